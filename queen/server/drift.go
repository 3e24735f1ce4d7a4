package server

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rbee-fleet/rbee/shared/api"
)

// defaultDriftInterval is how often the queen reads the branch heads
// unless Config.DriftInterval says otherwise.
const defaultDriftInterval = 5 * time.Minute

// driftParallel bounds how many nodes are asked for their branch head at
// once.
const driftParallel = 8

// branchHeads is the newest commit of each node's branch the queen saw,
// kept in memory (it is seen again within one interval after a restart).
type branchHeads struct {
	mu    sync.Mutex
	heads map[string]branchHead
}

// branchHead is one node's branch head and when it was seen.
type branchHead struct {
	commit string
	at     time.Time
}

func (b *branchHeads) set(node, commit string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.heads == nil {
		b.heads = map[string]branchHead{}
	}
	b.heads[node] = branchHead{commit: commit, at: at}
}

// get returns the branch head seen for node.
func (b *branchHeads) get(node string) (branchHead, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.heads[node]
	return h, ok
}

// fill sets n's BranchHead fields from what was seen.
func (b *branchHeads) fill(n *api.Node) {
	if h, ok := b.get(n.NodeName); ok {
		n.BranchHead, n.BranchHeadCheckedUnix = h.commit, h.at.Unix()
	}
}

// driftLoop reads the branch head of every installed node now and then
// every DriftInterval, until ctx ends.
func (s *Server) driftLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.DriftInterval)
	defer tick.Stop()
	for {
		s.checkDrift(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checkDrift reads the branch head of every installed node over its
// connection; a node that cannot be asked keeps what was seen before and
// is logged at debug level (its connection state is shown elsewhere).
func (s *Server) checkDrift(ctx context.Context) {
	nodes, err := s.cfg.Registry.List(ctx)
	if err != nil {
		s.log.Warn("list nodes to read their branch heads", "err", err)
		return
	}
	in := s.installer()
	var g errgroup.Group
	g.SetLimit(driftParallel)
	for _, n := range nodes {
		if n.InstalledCommit == "" {
			continue
		}
		g.Go(func() error {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			head, err := in.BranchHead(cctx, n)
			if err != nil {
				s.log.Debug("read the branch head", "node", n.NodeName, "err", err)
				return nil
			}
			s.heads.set(n.NodeName, head, s.cfg.Now())
			return nil
		})
	}
	_ = g.Wait()
}
