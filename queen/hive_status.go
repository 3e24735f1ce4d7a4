package main

import (
	"context"
	"time"
)

// hiveStatusCmd is `queen hive status`.
type hiveStatusCmd struct {
	Node string `required:"" placeholder:"NAME" help:"Name of the node whose agent to show."`
}

// Run prints the node's agent status. An unhealthy agent is reported, not
// an error: the command fails only when the queen could not answer.
func (c *hiveStatusCmd) Run(ctx context.Context, s *session) error {
	if err := checkNodeName("--node", c.Node); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	st, err := q.HiveStatus(ctx, c.Node)
	if err != nil {
		return nodeNotFound(c.Node, s.explain(err))
	}
	if s.g.JSON {
		return writeJSON(s.stdout, st)
	}
	renderHiveStatus(s.stdout, st, time.Now())
	return nil
}
