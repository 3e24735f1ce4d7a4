package main

import (
	"context"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// updateNodeCmd is `queen setup update-node`. Only the flags given are sent;
// the pointer fields are nil for the others.
type updateNodeCmd struct {
	Name               string         `aliases:"node" required:"" placeholder:"NAME" help:"Name of the node to change."`
	SSHHost            *string        `name:"ssh-host" placeholder:"HOST" help:"New hostname, IP address or ~/.ssh/config alias."`
	SSHPort            *int           `name:"ssh-port" placeholder:"PORT" help:"New SSH port."`
	SSHUser            *string        `name:"ssh-user" placeholder:"USER" help:"New SSH login name (\"\" hands the choice to ssh)."`
	SSHKey             *string        `name:"ssh-key" placeholder:"PATH" help:"New private key file on this machine (\"\" means ssh-agent)."`
	GitRepo            *string        `name:"git-repo" placeholder:"URL" help:"New git repository."`
	GitBranch          *string        `name:"git-branch" placeholder:"BRANCH" help:"New branch to build."`
	InstallPath        *string        `name:"install-path" placeholder:"PATH" help:"New install path on the node ('/…' or '~/…')."`
	AgentPort          *int           `name:"agent-port" placeholder:"PORT" help:"New port of the hive agent."`
	HostKeyFingerprint *string        `name:"host-key-fingerprint" placeholder:"SHA256:…" help:"Host key the node must present when SSH is re-validated."`
	ConnectTimeout     *time.Duration `name:"connect-timeout" placeholder:"DURATION" help:"Bound of each SSH connect attempt of the re-validation (default 10s)."`
	ResetHostKey       bool           `name:"reset-host-key" help:"Forget the pinned host key; the next connection pins the one the node presents."`
	Transport          *string        `name:"transport" placeholder:"ssh|http" help:"New transport (ssh or http); the agent follows at the next install."`
}

// Run checks the flags locally, then streams the queen's update (with SSH
// re-validation when connection fields change).
func (c *updateNodeCmd) Run(ctx context.Context, s *session) error {
	req, err := c.request()
	if err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	p := s.printer()
	n, err := q.UpdateNode(ctx, c.Name, req, p.handler())
	if err != nil {
		return nodeNotFound(c.Name, s.explain(err))
	}
	if p != nil && !p.sawDone {
		s.say("✅ Node '%s' updated", n.NodeName)
	}
	return nil
}

// request builds the update request from the flags that were given.
func (c *updateNodeCmd) request() (api.UpdateNodeRequest, error) {
	if err := checkNodeName("--name", c.Name); err != nil {
		return api.UpdateNodeRequest{}, err
	}
	req := api.UpdateNodeRequest{
		SSHHost:            c.SSHHost,
		SSHPort:            c.SSHPort,
		SSHUser:            c.SSHUser,
		GitRepoURL:         c.GitRepo,
		GitBranch:          c.GitBranch,
		InstallPath:        c.InstallPath,
		AgentPort:          c.AgentPort,
		HostKeyFingerprint: c.HostKeyFingerprint,
		ResetHostKey:       c.ResetHostKey,
		Transport:          c.Transport,
	}
	if c.SSHKey != nil {
		key, err := checkSSHKey(*c.SSHKey)
		if err != nil {
			return api.UpdateNodeRequest{}, err
		}
		req.SSHKeyPath = &key
	}
	if c.ConnectTimeout != nil {
		req.ConnectTimeoutMS = c.ConnectTimeout.Milliseconds()
	}
	if err := req.Validate(); err != nil {
		return api.UpdateNodeRequest{}, invalidFlags("update-node", err)
	}
	return req, nil
}
