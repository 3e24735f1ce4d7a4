package main

import (
	"fmt"
	"io"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// setupCmd groups the commands that register, check and remove hive nodes.
// They are clients of a running queen (`queen serve`).
type setupCmd struct {
	AddNode     addNodeCmd     `cmd:"" name:"add-node" help:"Validate SSH to a node, pin its host key and register it."`
	UpdateNode  updateNodeCmd  `cmd:"" name:"update-node" help:"Change a node's fields; re-validates SSH when connection fields change."`
	RemoveNode  removeNodeCmd  `cmd:"" name:"remove-node" help:"Drop a node from the registry."`
	ListNodes   listNodesCmd   `cmd:"" name:"list-nodes" help:"List the registered nodes with status, last contact and install path."`
	Preflight   preflightCmd   `cmd:"" help:"Check a node over SSH: commands, latency, git, go, disk, arch."`
	Install     installCmd     `cmd:"" help:"Install or update the hive agent on nodes; up-to-date nodes are left alone."`
	Uninstall   uninstallCmd   `cmd:"" help:"Stop a node's agent and remove what install created."`
	RotateToken rotateTokenCmd `cmd:"" name:"rotate-token" help:"Give a node's agent new hive and agent tokens; no restart, the old ones stop working."`
}

// ProvideSession gives the setup commands' Run methods their *session; kong
// calls Provide methods of the commands on the path to the one that runs.
func (*setupCmd) ProvideSession(g *Globals, kctx *kong.Context) *session {
	return &session{
		g:         g,
		stdout:    kctx.Stdout,
		stderr:    kctx.Stderr,
		tokenFlag: flagGiven(kctx, "token"),
	}
}

// session is what a setup command needs besides its flags: the global flags,
// where to print, and how the admin token was given.
type session struct {
	g              *Globals
	stdout, stderr io.Writer
	tokenFlag      bool       // --token was on the command line
	token          adminToken // set by connect
}

// connect resolves the admin token and returns a client of the queen. In
// --json mode the client copies streamed events to stdout unchanged.
func (s *session) connect() (*client.Client, error) {
	tok, err := resolveToken(s.g.Token, s.tokenFlag, s.g.DataDir)
	if err != nil {
		return nil, err
	}
	s.token = tok
	var opts []client.Option
	if s.g.JSON {
		opts = append(opts, client.WithStreamCopy(s.stdout))
	}
	return client.New(s.g.QueenURL, tok.value, opts...), nil
}

// explain turns a rejected token into an error naming its source; other
// errors pass unchanged.
func (s *session) explain(err error) error {
	return tokenRejected(s.g.QueenURL, s.g.DataDir, s.token, err)
}

// printer returns the event printer for a streamed operation; nil in --json
// mode, where the client copies the events to stdout itself.
func (s *session) printer() *eventPrinter {
	if s.g.JSON {
		return nil
	}
	return &eventPrinter{stdout: s.stdout, stderr: s.stderr}
}

// say prints one human line prefixed with [queen].
func (s *session) say(format string, args ...any) {
	fmt.Fprintf(s.stdout, "[queen] "+format+"\n", args...)
}

// checkNodeName validates a node name given with flag before it goes into a
// URL.
func checkNodeName(flag, name string) error {
	if err := api.ValidateNodeName(name); err != nil {
		return withHint(fmt.Errorf("check %s: %w", flag, err),
			"list the registered nodes with `queen setup list-nodes`")
	}
	return nil
}

// flagGiven reports whether the flag called name was on the command line
// (not filled from its environment variable or default).
func flagGiven(kctx *kong.Context, name string) bool {
	for _, p := range kctx.Path {
		if p.Flag != nil && p.Flag.Name == name {
			return true
		}
	}
	return false
}
