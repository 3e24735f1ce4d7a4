package main

import (
	"context"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// listNodesCmd is `queen setup list-nodes`.
type listNodesCmd struct{}

// Run prints the registered nodes.
func (c *listNodesCmd) Run(ctx context.Context, s *session) error {
	q, err := s.connect()
	if err != nil {
		return err
	}
	l, err := q.ListNodes(ctx)
	if err != nil {
		return s.explain(err)
	}
	if l.Nodes == nil {
		l.Nodes = []api.Node{}
	}
	if s.g.JSON {
		return writeJSON(s.stdout, l)
	}
	renderNodeList(s.stdout, l, time.Now())
	return nil
}
