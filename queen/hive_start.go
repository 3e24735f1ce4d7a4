package main

import (
	"context"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// hiveStartCmd is `queen hive start`.
type hiveStartCmd struct {
	Node string `aliases:"name" required:"" placeholder:"NAME" help:"Name of the node whose agent to start."`
}

// Run streams the queen's start of the node's agent.
func (c *hiveStartCmd) Run(ctx context.Context, s *session) error {
	return agentOp(ctx, s, c.Node, "start", "started", func(q *client.Client, on func(api.Event)) (api.HiveStatus, error) {
		return q.StartHive(ctx, c.Node, on)
	})
}

// agentOp runs one streamed operation on a node's agent (start, stop) and
// reports its outcome.
func agentOp(ctx context.Context, s *session, node, verb, done string,
	call func(*client.Client, func(api.Event)) (api.HiveStatus, error)) error {
	if err := checkNodeName("--node", node); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	p := s.printer()
	st, err := call(q, p.handler())
	if err != nil {
		err = cancelled(ctx, s, verb, "check the agent with `queen hive status --node "+node+"`", err)
		return nodeNotFound(node, s.explain(err))
	}
	if p != nil && !p.sawDone {
		s.say("✅ Agent of '%s' %s (status %s)", st.Node, done, st.Status)
	}
	return nil
}
