package server

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/rbee-fleet/rbee/shared/api"
)

// checkAll answers an install check (InstallRequest.Check): what an
// install would do on each node, changing nothing and recording nothing
// but the branch heads it saw (so list-nodes shows drift at once).
func (s *Server) checkAll(ctx context.Context, nodes []api.Node, req api.InstallRequest, p *progress) {
	results := make([]api.InstallResult, len(nodes))
	var g errgroup.Group
	g.SetLimit(req.Parallel)
	in := s.installer()
	for i, n := range nodes {
		g.Go(func() error {
			res := in.Check(ctx, n, req.Method)
			if res.Commit != "" {
				s.heads.set(n.NodeName, res.Commit, s.cfg.Now())
			}
			p.nodeEvent(n.NodeName, api.LevelInfo, "check", checkLine(res), 0)
			results[i] = res
			return nil
		})
	}
	_ = g.Wait()
	changes := 0
	for _, res := range results {
		if res.Result != api.ResultUpToDate {
			changes++
		}
	}
	p.succeed(200, fmt.Sprintf("check done: %d of %d node(s) would change or failed", changes, len(results)),
		api.InstallReport{Results: results})
}

// checkLine is the one-line summary of a node's check.
func checkLine(res api.InstallResult) string {
	switch res.Result {
	case api.ResultFailed:
		return "❌ " + firstLine(res.Error.Message)
	case api.ResultUpToDate:
		return "nothing to do"
	}
	return api.PlanSummary(res.Plan)
}
