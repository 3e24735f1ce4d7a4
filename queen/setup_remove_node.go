package main

import (
	"context"
	"fmt"

	"github.com/rbee-fleet/rbee/shared/api"
)

// removeNodeCmd is `queen setup remove-node`.
type removeNodeCmd struct {
	Name      string `aliases:"node" required:"" placeholder:"NAME" help:"Name of the node to drop from the registry."`
	Uninstall bool   `help:"First stop the agent and remove what install made on the node (checkout included)."`
	Force     bool   `help:"Forget the node even though its agent still runs; the agent and its workers keep running on the node."`
}

// Run drops the node from the queen's registry, after uninstalling the agent
// when asked. The queen refuses a node whose agent runs unless --force.
func (c *removeNodeCmd) Run(ctx context.Context, s *session) error {
	if err := checkNodeName("--name", c.Name); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	if c.Uninstall {
		p := s.printer()
		if _, err := q.Uninstall(ctx, c.Name, api.UninstallRequest{}, p.handler()); err != nil {
			err = withHint(fmt.Errorf("uninstall before removing: %w", s.explain(err)),
				"fix the cause above and run it again, or remove the node without --uninstall")
			return nodeNotFound(c.Name, err)
		}
	}
	resp, err := q.RemoveNode(ctx, c.Name, c.Force)
	if err != nil {
		return nodeNotFound(c.Name, s.explain(err))
	}
	if s.g.JSON {
		return writeJSON(s.stdout, resp)
	}
	s.say("✅ Node '%s' removed from registry", c.Name)
	if resp.Warning != "" {
		s.say("⚠️  %s", resp.Warning)
	}
	return nil
}
