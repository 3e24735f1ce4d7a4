package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// workersListCmd is `queen workers list`.
type workersListCmd struct {
	Node       string `aliases:"name" placeholder:"NAME" help:"Only the workers of this node."`
	Model      string `placeholder:"REF" help:"Only the workers of this model reference."`
	Capability string `placeholder:"CAP" help:"Only the workers on this device: cpu or <backend>:<device>, e.g. cuda:0."`
	State      string `placeholder:"STATE" help:"Only the workers in this state: loading, idle, busy, stopping or failed."`
	Limit      int    `placeholder:"N" help:"Workers per page asked of the queen, 1–5000 (default: the queen's, 500). The list is printed page by page as it comes and always goes to the end."`
}

// Validate refuses a --limit the queen would refuse, before any request:
// a usage error.
func (c *workersListCmd) Validate() error {
	if c.Limit < 0 || c.Limit > api.MaxWorkerPageLimit {
		return fmt.Errorf("check --limit: %d is not a page size from 1 to %d; leave --limit out for pages of 500 (the list goes to the end whatever the page size)",
			c.Limit, api.MaxWorkerPageLimit)
	}
	return nil
}

// Run prints the workers that pass the filter flags, in the queen's order,
// page by page as it follows the queen's cursors: a long list starts
// printing at once and is never held whole. With --json it prints one
// document, {"workers": [...]}, written as the pages come.
func (c *workersListCmd) Run(ctx context.Context, s *session) error {
	f, err := c.filter()
	if err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	p := newWorkerPrinter(s.stdout, s.g.JSON, f != api.WorkerFilter{}, time.Now())
	if err := q.EachWorkerPage(ctx, f, c.Limit, p.page); err != nil {
		return s.explain(err)
	}
	return p.end()
}

// filter builds the worker filter from the flags and checks it.
func (c *workersListCmd) filter() (api.WorkerFilter, error) {
	f := api.WorkerFilter{Node: c.Node, Model: c.Model, Capability: c.Capability, State: c.State}.Canonical()
	if err := f.Validate(); err != nil {
		return api.WorkerFilter{}, invalidWorkerFlag(err)
	}
	return f, nil
}
