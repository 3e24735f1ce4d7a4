package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/shared/api"
)

// addNodeCmd is `queen setup add-node`.
type addNodeCmd struct {
	Name               string        `aliases:"node" required:"" placeholder:"NAME" help:"Name of the new node (DNS-safe, e.g. gpu-1)."`
	SSHHost            string        `name:"ssh-host" required:"" placeholder:"HOST" help:"Hostname, IP address or ~/.ssh/config alias of the node."`
	SSHPort            int           `name:"ssh-port" placeholder:"22" help:"SSH port of the node (default: the Port of a ~/.ssh/config alias, else 22)."`
	SSHUser            string        `name:"ssh-user" placeholder:"USER" help:"SSH login name (default: ~/.ssh/config, else your user)."`
	SSHKey             string        `name:"ssh-key" placeholder:"PATH" help:"Private key file on this machine (default: ssh-agent)."`
	GitRepo            string        `name:"git-repo" required:"" placeholder:"URL" help:"Git repository the node builds the agent from."`
	GitBranch          string        `name:"git-branch" default:"main" help:"Branch to build."`
	InstallPath        string        `name:"install-path" required:"" placeholder:"PATH" help:"Where the agent goes on the node: '/…' or '~/…' (quote it; ~ is resolved on the node)."`
	AgentPort          int           `name:"agent-port" default:"7835" help:"Port the hive agent listens on."`
	HostKeyFingerprint string        `name:"host-key-fingerprint" placeholder:"SHA256:…" help:"Host key the node must present (default: trust on first use)."`
	ConnectTimeout     time.Duration `name:"connect-timeout" default:"10s" help:"Bound of each SSH connect attempt (TCP and handshake)."`
	Transport          string        `name:"transport" placeholder:"ssh|http" help:"How the queen reaches the agent at run time: ssh (the default: over its SSH connection; only port 22 open) or http (direct; the agent and workers listen on the network)."`
}

// Run checks the flags and the key locally, then streams the queen's SSH
// validation of the node.
func (c *addNodeCmd) Run(ctx context.Context, s *session) error {
	req, err := c.request()
	if err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	p := s.printer()
	n, err := q.AddNode(ctx, req, p.handler())
	if err != nil {
		return s.explain(err)
	}
	if p != nil && !p.sawDone {
		s.say("✅ Node '%s' saved to registry", n.NodeName)
	}
	return nil
}

// request builds the add-node request from the flags, with the key path
// expanded and checked on this machine.
func (c *addNodeCmd) request() (api.AddNodeRequest, error) {
	key, err := checkSSHKey(c.SSHKey)
	if err != nil {
		return api.AddNodeRequest{}, err
	}
	req := api.AddNodeRequest{
		Name:               c.Name,
		SSHHost:            c.SSHHost,
		SSHPort:            c.SSHPort,
		SSHUser:            c.SSHUser,
		SSHKeyPath:         key,
		GitRepoURL:         c.GitRepo,
		GitBranch:          c.GitBranch,
		InstallPath:        c.InstallPath,
		AgentPort:          c.AgentPort,
		HostKeyFingerprint: c.HostKeyFingerprint,
		ConnectTimeoutMS:   c.ConnectTimeout.Milliseconds(),
		Transport:          c.Transport,
	}
	if err := req.Validate(); err != nil {
		return api.AddNodeRequest{}, invalidFlags("add-node", err)
	}
	return req, nil
}

// errBadKey is wrapped by every error of checkSSHKey.
var errBadKey = errors.New("unusable SSH key")

// checkSSHKey expands a leading ~ of a key path to the user's home, makes it
// absolute and checks, as OpenSSH does, that the file exists and is not
// accessible by group or others. An empty path (ssh-agent) passes.
func checkSSHKey(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	if path == "~" || strings.HasPrefix(path, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", withHint(fmt.Errorf("%w: expand ~ in %s: %w", errBadKey, path, err),
				"give the key's absolute path")
		}
		path = filepath.Join(home, path[1:])
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: resolve %s: %w", errBadKey, path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", &hintError{msg: "SSH key not found: " + abs, err: fmt.Errorf("%w: %w", errBadKey, err),
			hint: "check the path, or omit --ssh-key to use ssh-agent"}
	case err != nil:
		return "", withHint(fmt.Errorf("%w: %w", errBadKey, err), "check the path and its permissions")
	case fi.IsDir():
		return "", &hintError{msg: fmt.Sprintf("SSH key %s is a directory", abs), err: errBadKey,
			hint: "give the private key file, e.g. ~/.ssh/id_ed25519"}
	case fi.Mode().Perm()&0o077 != 0:
		return "", &hintError{
			msg:  fmt.Sprintf("SSH key %s is accessible by others (mode %04o)", abs, fi.Mode().Perm()),
			err:  errBadKey,
			hint: "chmod 600 " + provision.Quote(abs),
		}
	}
	return abs, nil
}
