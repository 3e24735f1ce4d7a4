package main

import "context"

// hiveStartCmd is `queen hive start`.
type hiveStartCmd struct {
	Node string `required:"" placeholder:"NAME" help:"Name of the node whose agent to start."`
}

// Run streams the queen's start of the node's agent.
func (c *hiveStartCmd) Run(ctx context.Context, s *session) error {
	if err := checkNodeName("--node", c.Node); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	p := s.printer()
	st, err := q.StartHive(ctx, c.Node, p.handler())
	if err != nil {
		err = cancelled(ctx, s, "start", "check the agent with `queen hive status --node "+c.Node+"`", err)
		return nodeNotFound(c.Node, s.explain(err))
	}
	if p != nil && !p.sawDone {
		s.say("✅ Agent of '%s' started (status %s)", st.Node, st.Status)
	}
	return nil
}
