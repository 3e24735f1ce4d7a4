package workerregistry

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestNodeListsFollowEveryChange runs random registers, removals,
// snapshots, deltas and node removals and checks after each that every
// node's list holds exactly the node's records, once each.
func TestNodeListsFollowEveryChange(t *testing.T) {
	r, rng := New(), rand.New(rand.NewPCG(1, 2))
	nodes := []string{"gpu-a", "gpu-b", "gpu-c"}
	worker := func(node string) api.Worker { return sampleWorker(node, fmt.Sprintf("w-%s-%d", node, rng.IntN(12))) }
	for step := range 3000 {
		node := nodes[rng.IntN(len(nodes))]
		switch rng.IntN(5) {
		case 0:
			_, _ = r.Register(node, worker(node), t0)
		case 1:
			_, _ = r.Remove(node, worker(node).ID)
		case 2:
			snapshot := make([]api.Worker, rng.IntN(8))
			for i := range snapshot {
				snapshot[i] = worker(node)
			}
			r.Reconcile(node, snapshot, t0)
		case 3:
			r.ApplyDelta(node, []api.Worker{worker(node)}, []string{worker(node).ID, worker(node).ID}, t0)
		case 4:
			if rng.IntN(10) == 0 {
				r.RemoveNode(node)
			}
		}
		checkNodeLists(t, r, step)
	}
}

func checkNodeLists(t *testing.T, r *Registry, step int) {
	t.Helper()
	n := 0
	for node, set := range r.byNode {
		if len(set) == 0 {
			t.Fatalf("step %d: node %s keeps an empty list", step, node)
		}
		for i, e := range set {
			if r.byID[e.w.ID] != e || e.w.Node != node || slices.Index(set, e) != i {
				t.Fatalf("step %d: node %s lists %s, which is not its record or listed twice", step, node, e.w.ID)
			}
		}
		n += len(set)
	}
	if n != len(r.byID) || n != r.idx.all.Len() {
		t.Fatalf("step %d: node lists hold %d records, byID %d, the order %d", step, n, len(r.byID), r.idx.all.Len())
	}
}
