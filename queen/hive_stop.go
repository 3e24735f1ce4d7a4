package main

import "context"

// hiveStopCmd is `queen hive stop`.
type hiveStopCmd struct {
	Node string `required:"" placeholder:"NAME" help:"Name of the node whose agent to stop."`
}

// Run streams the queen's stop of the node's agent.
func (c *hiveStopCmd) Run(ctx context.Context, s *session) error {
	if err := checkNodeName("--node", c.Node); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	p := s.printer()
	st, err := q.StopHive(ctx, c.Node, p.handler())
	if err != nil {
		err = cancelled(ctx, s, "stop", "check the agent with `queen hive status --node "+c.Node+"`", err)
		return nodeNotFound(c.Node, s.explain(err))
	}
	if p != nil && !p.sawDone {
		s.say("✅ Agent of '%s' stopped (status %s)", st.Node, st.Status)
	}
	return nil
}
