package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// errInstallFailed is wrapped by the error of an install that failed on at
// least one node.
var errInstallFailed = errors.New("install failed")

// installCmd is `queen setup install`.
type installCmd struct {
	Node     []string `aliases:"name" placeholder:"NAME" help:"Node to install the agent on; repeat for several nodes."`
	All      bool     `help:"Install on every registered node."`
	Method   string   `enum:"build,upload,auto" default:"auto" help:"How the agent binary is made: build on the node, upload a prebuilt one, or auto (build where the node has Go)."`
	Parallel int      `default:"16" help:"How many nodes install at once."`
	Check    bool     `help:"Print what an install would do per node, changing nothing; exit 2 when something would change."`
}

// Validate checks the flags kong cannot: exactly one of --node and --all,
// and a positive --parallel. Its errors are usage errors.
func (c *installCmd) Validate() error {
	switch {
	case len(c.Node) == 0 && !c.All:
		return errors.New("pass one of --node NAME and --all: the nodes to install, or every registered node")
	case len(c.Node) > 0 && c.All:
		return errors.New("--node and --all can't be used together: pass one of them")
	case c.Parallel < 1:
		return fmt.Errorf("--parallel must be at least 1, not %d", c.Parallel)
	}
	return nil
}

// Run streams the queen's install, prints the per-node result table and
// fails when any node failed.
func (c *installCmd) Run(ctx context.Context, s *session) error {
	req, err := c.request()
	if err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	onEvent := s.printer().handler()
	if req.Check {
		onEvent = nil // the plan is printed whole at the end
	}
	r, err := q.Install(ctx, req, onEvent)
	if err != nil {
		err = cancelled(ctx, s, "install",
			"run the same command again to finish; nodes that are up to date are skipped", err)
		return installNotFound(req.Nodes, s.explain(err))
	}
	if req.Check {
		return checkOutcome(s, r)
	}
	if !s.g.JSON {
		renderInstallReport(s.stdout, r)
	}
	return installFailed(r)
}

// request builds the install request from the flags, with the node names
// checked and repeated names dropped.
func (c *installCmd) request() (api.InstallRequest, error) {
	req := api.InstallRequest{All: c.All, Method: c.Method, Parallel: c.Parallel, Check: c.Check}
	for _, n := range c.Node {
		if err := checkNodeName("--node", n); err != nil {
			return api.InstallRequest{}, err
		}
		if !slices.Contains(req.Nodes, n) {
			req.Nodes = append(req.Nodes, n)
		}
	}
	return req, nil
}

// installNotFound is [nodeNotFound] for an install of nodes: with one node
// the error names it; with several the queen's message says which is
// unknown.
func installNotFound(nodes []string, err error) error {
	if len(nodes) == 1 {
		return nodeNotFound(nodes[0], err)
	}
	if !client.IsNotFound(err) {
		return err
	}
	return &hintError{
		msg:  err.Error(),
		err:  fmt.Errorf("%w: %w", errNodeNotFound, err),
		hint: "list the registered nodes with `queen setup list-nodes`",
	}
}

// installFailed returns the error of a report with failed nodes, naming
// them, or nil when none failed.
func installFailed(r api.InstallReport) error {
	var failed []string
	for _, res := range r.Results {
		if res.Result == api.ResultFailed {
			failed = append(failed, clean(res.Node))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &hintError{
		msg: fmt.Sprintf("install failed on %d of %d nodes: %s", len(failed), len(r.Results),
			strings.Join(failed, ", ")),
		err:  errInstallFailed,
		hint: "fix the cause shown above and run the same command again; nodes that are up to date are skipped",
	}
}
