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
	Node string `required:"" placeholder:"NAME" help:"Name of the node to check."`
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
		return nodeNotFound(c.Node, s.explain(err))
	}
	if !s.g.JSON {
		renderPreflight(s.stdout, r)
	}
	if !r.SSHOK || !r.CommandOK {
		return withHint(fmt.Errorf("%w: SSH to node %q does not work", errPreflightFailed, c.Node),
			"check the node's SSH settings with `queen setup list-nodes`, fix them with `queen setup update-node`")
	}
	return nil
}
