package main

import (
	"context"

	"github.com/rbee-fleet/rbee/shared/api"
)

// uninstallCmd is `queen setup uninstall`.
type uninstallCmd struct {
	Node       string `aliases:"name" required:"" placeholder:"NAME" help:"Name of the node to uninstall the agent from."`
	KeepSource bool   `name:"keep-source" help:"Keep the git checkout on the node; everything else install made goes."`
}

// Run streams the queen's uninstall: stop the agent, remove what install
// created. The node stays registered.
func (c *uninstallCmd) Run(ctx context.Context, s *session) error {
	if err := checkNodeName("--node", c.Node); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	p := s.printer()
	st, err := q.Uninstall(ctx, c.Node, api.UninstallRequest{KeepSource: c.KeepSource}, p.handler())
	if err != nil {
		err = cancelled(ctx, s, "uninstall", "run the same command again to finish removing the agent", err)
		return nodeNotFound(c.Node, s.explain(err))
	}
	if p != nil && !p.sawDone {
		s.say("✅ Agent removed from '%s' (status %s)", st.Node, st.Status)
	}
	return nil
}
