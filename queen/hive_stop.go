package main

import (
	"context"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// hiveStopCmd is `queen hive stop`.
type hiveStopCmd struct {
	Node string `aliases:"name" required:"" placeholder:"NAME" help:"Name of the node whose agent to stop."`
}

// Run streams the queen's stop of the node's agent.
func (c *hiveStopCmd) Run(ctx context.Context, s *session) error {
	return agentOp(ctx, s, c.Node, "stop", "stopped", func(q *client.Client, on func(api.Event)) (api.HiveStatus, error) {
		return q.StopHive(ctx, c.Node, on)
	})
}
