package provision

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// homeCommand prints the login user's home directory. A reviewed constant:
// nothing is formatted into it.
const homeCommand = `printf '%s' "$HOME"`

// RemoteHome returns the remote user's home directory ($HOME of the login
// shell). It is asked once per Client and remembered.
func (c *Client) RemoteHome(ctx context.Context) (string, error) {
	c.mu.Lock()
	home, done := c.home, c.homeDone
	c.mu.Unlock()
	if done {
		return home, nil
	}
	out, err := c.Run(ctx, homeCommand)
	if err != nil {
		return "", fmt.Errorf("find remote home: %w", err)
	}
	home = string(out)
	if !path.IsAbs(home) {
		return "", fmt.Errorf("find remote home on %s: $HOME is %q, not an absolute path; set a home directory for %s",
			c.dest, home, c.dest.User)
	}
	c.mu.Lock()
	c.home, c.homeDone = home, true
	c.mu.Unlock()
	return home, nil
}

// ExpandHome resolves a leading "~" or "~/" in p against [Client.RemoteHome];
// other paths are returned unchanged without a round trip. "~user" is not
// supported.
func (c *Client) ExpandHome(ctx context.Context, p string) (string, error) {
	if !strings.HasPrefix(p, "~") {
		return p, nil
	}
	rest, ok := strings.CutPrefix(p, "~/")
	switch {
	case p == "~":
		rest = ""
	case !ok:
		return "", fmt.Errorf("expand %q: only ~ and ~/ are supported; give an absolute path", p)
	}
	home, err := c.RemoteHome(ctx)
	if err != nil {
		return "", err
	}
	return path.Join(home, rest), nil
}
