package main

import "context"

// removeNodeCmd is `queen setup remove-node`.
type removeNodeCmd struct {
	Name string `required:"" placeholder:"NAME" help:"Name of the node to drop from the registry."`
}

// Run drops the node from the queen's registry.
func (c *removeNodeCmd) Run(ctx context.Context, s *session) error {
	if err := checkNodeName("--name", c.Name); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	resp, err := q.RemoveNode(ctx, c.Name)
	if err != nil {
		return nodeNotFound(c.Name, s.explain(err))
	}
	if s.g.JSON {
		return writeJSON(s.stdout, resp)
	}
	s.say("✅ Node '%s' removed from registry", c.Name)
	return nil
}
