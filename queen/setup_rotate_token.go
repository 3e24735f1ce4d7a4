package main

import "context"

// rotateTokenCmd is `queen setup rotate-token`.
type rotateTokenCmd struct {
	Node string `aliases:"name" required:"" placeholder:"NAME" help:"Name of the node whose tokens to replace."`
}

// Run streams the queen's rotation: new hive and agent tokens written to
// the node, the agent reloads them (no worker restarts), the old ones are
// refused from then on.
func (c *rotateTokenCmd) Run(ctx context.Context, s *session) error {
	if err := checkNodeName("--node", c.Node); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	p := s.printer()
	st, err := q.RotateTokens(ctx, c.Node, p.handler())
	if err != nil {
		err = cancelled(ctx, s, "rotate-token", "run the same command again: a rotation can be repeated", err)
		return nodeNotFound(c.Node, s.explain(err))
	}
	if p != nil && !p.sawDone {
		s.say("✅ New tokens in force on '%s' (status %s)", st.Node, st.Status)
	}
	return nil
}
