package main

import (
	"context"
	"errors"
	"fmt"
)

// errPreflightFailed is wrapped by the error of a preflight whose SSH checks
// failed.
var errPreflightFailed = errors.New("preflight failed")

// preflightCmd is `queen setup preflight`.
type preflightCmd struct {
	Node string `aliases:"name" required:"" placeholder:"NAME" help:"Name of the node to check."`
}

// Run streams the queen's check of the node and prints its report; it fails
// when SSH or command execution failed.
func (c *preflightCmd) Run(ctx context.Context, s *session) error {
	if err := checkNodeName("--node", c.Node); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	p := s.printer()
	r, err := q.Preflight(ctx, c.Node, p.handler())
	if err != nil {
		return notRegistered(c.Node, s.explain(err))
	}
	if !s.g.JSON {
		renderPreflight(s.stdout, r)
	}
	switch {
	case !r.SSHOK || !r.CommandOK:
		return withHint(fmt.Errorf("%w: SSH to node %q does not work", errPreflightFailed, c.Node),
			"check the node's SSH settings with `queen setup list-nodes`, fix them with `queen setup update-node`")
	case len(r.Problems) > 0:
		return withHint(fmt.Errorf("%w: %d problem(s) on node %q would stop an install", errPreflightFailed, len(r.Problems), c.Node),
			"fix the problems listed above, then run `queen setup preflight` again")
	}
	return nil
}

// notRegistered explains a node the queen does not know: it must be
// added before it can be checked.
func notRegistered(name string, err error) error {
	err = nodeNotFound(name, err)
	if !errors.Is(err, errNodeNotFound) {
		return err
	}
	return &hintError{err: err,
		hint: fmt.Sprintf("register it first: `queen setup add-node --name %s --ssh-host HOST --git-repo URL --install-path PATH`", name)}
}
