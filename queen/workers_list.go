package main

import (
	"context"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// workersListCmd is `queen workers list`.
type workersListCmd struct {
	Node       string `aliases:"name" placeholder:"NAME" help:"Only the workers of this node."`
	Model      string `placeholder:"REF" help:"Only the workers of this model reference."`
	Capability string `placeholder:"CAP" help:"Only the workers on this device: cpu or <backend>:<device>, e.g. cuda:0."`
	State      string `placeholder:"STATE" help:"Only the workers in this state: loading, idle, busy, stopping or failed."`
}

// Run prints the workers that pass the filter flags, in the queen's order.
func (c *workersListCmd) Run(ctx context.Context, s *session) error {
	f, err := c.filter()
	if err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	l, err := q.ListWorkers(ctx, f)
	if err != nil {
		return s.explain(err)
	}
	if l.Workers == nil {
		l.Workers = []api.Worker{}
	}
	if s.g.JSON {
		return writeJSON(s.stdout, l)
	}
	renderWorkerList(s.stdout, l, f != api.WorkerFilter{}, time.Now())
	return nil
}

// filter builds the worker filter from the flags and checks it.
func (c *workersListCmd) filter() (api.WorkerFilter, error) {
	f := api.WorkerFilter{Node: c.Node, Model: c.Model, Capability: c.Capability, State: c.State}.Canonical()
	if err := f.Validate(); err != nil {
		return api.WorkerFilter{}, invalidWorkerFlag(err)
	}
	return f, nil
}
