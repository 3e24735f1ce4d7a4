package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/shared/api"
)

// sshTarget says how to reach a node: its registry row plus the settings of
// this one operation.
type sshTarget struct {
	node              api.Node
	port              int // 0: from ~/.ssh/config, else 22
	timeout           time.Duration
	expectFingerprint string
}

func targetOf(n api.Node, timeoutMS int64) sshTarget {
	if timeoutMS <= 0 {
		timeoutMS = api.DefaultConnectTimeoutMS
	}
	return sshTarget{node: n, port: n.SSHPort, timeout: time.Duration(timeoutMS) * time.Millisecond}
}

// connect dials the node with the retry policy, reporting every attempt.
func (s *Server) connect(ctx context.Context, t sshTarget, p *progress) (*provision.Client, error) {
	where := t.node.SSHHost
	if t.port != 0 {
		where = t.node.SSHHost + ":" + strconv.Itoa(t.port)
	}
	p.event(api.LevelInfo, "connect", "🔌 Testing SSH connection to "+where, 0, 0)
	policy := s.cfg.Retry
	policy.OnAttempt = func(attempt, total int, err error, next time.Duration) {
		s.prom.SSHDialError()
		if !provision.Retryable(err) {
			return // not an attempt of a retry: the final error says it all
		}
		msg := fmt.Sprintf("⏳ Attempt %d/%d failed: %v", attempt, total, err)
		if next > 0 {
			msg += fmt.Sprintf(" (retrying in %v)", next.Round(time.Millisecond))
		}
		p.event(api.LevelWarn, "connect", msg, attempt, total)
	}
	target := provision.Target{
		Host: t.node.SSHHost, Port: t.port, User: t.node.SSHUser, KeyPath: t.node.SSHKeyPath,
		ConnectTimeout: t.timeout, HostKey: t.node.HostKey, ExpectFingerprint: t.expectFingerprint,
	}
	opts := provision.DialOptions{Logger: s.log, OnHandshake: func(provision.Endpoint) { s.handshakes.Add(1) }}
	return provision.DialWithRetry(ctx, target, policy, opts)
}

// pooled returns node n's pooled SSH connection, dialling it with the
// retry policy when it is down and reporting every attempt as connect
// does. The connection belongs to the pool: never close it.
func (s *Server) pooled(ctx context.Context, n api.Node, p *progress) (*provision.Client, error) {
	st := s.pool.Status(n.NodeName)
	if !st.Connected {
		p.event(api.LevelInfo, "connect", "🔌 Testing SSH connection to "+n.SSHHost, 0, 0)
	}
	return s.pool.Get(ctx, n, func(attempt, total int, err error, next time.Duration) {
		s.prom.SSHDialError()
		if !provision.Retryable(err) {
			return
		}
		msg := fmt.Sprintf("⏳ Attempt %d/%d failed: %v", attempt, total, err)
		if next > 0 {
			msg += fmt.Sprintf(" (retrying in %v)", next.Round(time.Millisecond))
		}
		p.event(api.LevelWarn, "connect", msg, attempt, total)
	})
}

// testCommand runs `echo 'connection test'` and checks its answer.
func testCommand(ctx context.Context, c *provision.Client) error {
	out, err := c.Run(ctx, provision.Command("echo", "connection test"))
	if err != nil {
		return fmt.Errorf("run the connection test: %w", err)
	}
	if got := strings.TrimSpace(string(out)); got != "connection test" {
		return fmt.Errorf("connection test answered %q instead of %q: the login shell prints extra output", got, "connection test")
	}
	return nil
}

// commandError marks a failure after the connection was made.
type commandError struct{ err error }

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// verify connects to the node, runs the connection test and resolves the
// install path on the node. The caller closes the client.
func (s *Server) verify(ctx context.Context, t sshTarget, p *progress) (*provision.Client, string, error) {
	c, err := s.connect(ctx, t, p)
	if err != nil {
		return nil, "", err
	}
	if err := testCommand(ctx, c); err != nil {
		c.Close()
		return nil, "", &commandError{err}
	}
	installPath, err := safeInstallPath(ctx, c, t.node.InstallPath)
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return c, installPath, nil
}

// safeInstallPath resolves p on the node and checks the result: not the
// SSH user's home itself, nor (for a home such as /) a system directory.
// The path is returned cleaned.
func safeInstallPath(ctx context.Context, c *provision.Client, p string) (string, error) {
	resolved, err := c.ExpandHome(ctx, p)
	if err != nil {
		return "", &commandError{fmt.Errorf("resolve install path %q on the node: %w", p, err)}
	}
	home, err := c.RemoteHome(ctx)
	if err != nil {
		return "", &commandError{fmt.Errorf("find the SSH user's home to check install path %q: %w", p, err)}
	}
	err = errors.Join(api.CheckInstallPathNotHome(resolved, home), api.CheckInstallPathSafe(resolved))
	if err != nil && resolved != p {
		err = fmt.Errorf("install path %q is %s on the node: %w", p, resolved, err)
	}
	if err != nil {
		return "", err
	}
	return api.CleanInstallPath(resolved), nil
}

// sshFailure maps an SSH error to the HTTP status and error the caller gets.
// pinned says whether the node had a pinned key (then a mismatch is fixed
// by re-pinning); otherwise it came from --host-key-fingerprint.
func sshFailure(err error, name string, pinned bool) (int, api.ErrorDetail) {
	hint := provision.Hint(err)
	switch {
	case errors.Is(err, provision.ErrHostKeyMismatch):
		if pinned {
			hint += fmt.Sprintf("; re-pin with `queen setup update-node --name %s --reset-host-key`", name)
		} else {
			hint += "; or check the value of --host-key-fingerprint"
		}
		return http.StatusConflict, api.ErrorDetail{Code: api.CodeHostKeyMismatch, Message: err.Error(), Hint: hint}
	case errors.Is(err, provision.ErrAuth), errors.Is(err, provision.ErrNoCredentials):
		return http.StatusUnprocessableEntity, api.ErrorDetail{Code: api.CodeSSHAuthFailed, Message: err.Error(), Hint: hint}
	case errors.Is(err, api.ErrUnsafePath):
		return http.StatusBadRequest, unsafePathDetail(err)
	case errors.Is(err, provision.ErrInvalidTarget):
		return http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidField, Message: err.Error(), Hint: hint}
	}
	if _, ok := errors.AsType[*commandError](err); ok {
		return http.StatusBadGateway, api.ErrorDetail{Code: api.CodeSSHCommandFailed, Message: err.Error(),
			Hint: "log in with ssh and run the command by hand to see what the node answers"}
	}
	if hint == "" {
		hint = "check that the node is up and sshd listens on that port, then try again"
	}
	return http.StatusBadGateway, api.ErrorDetail{Code: api.CodeSSHConnectFailed, Message: err.Error(), Hint: hint}
}
