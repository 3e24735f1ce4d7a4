package workerregistry

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestConcurrentRegisterOfOneIDOneWins(t *testing.T) {
	nodes := []string{"gpu-1", "gpu-2", "gpu-3"}
	for round := range 200 {
		r := New()
		start := make(chan struct{})
		created := make([]bool, len(nodes))
		errs := make([]error, len(nodes))
		var wg sync.WaitGroup
		for i, node := range nodes {
			wg.Go(func() {
				<-start
				created[i], errs[i] = r.Register(node, sampleWorker(node, "w-1"), t0)
			})
		}
		close(start)
		wg.Wait()
		wins, conflicts, winner := 0, 0, ""
		for i, err := range errs {
			switch {
			case err == nil && created[i]:
				wins++
				winner = nodes[i]
			case errors.Is(err, ErrConflict) && !created[i]:
				conflicts++
			default:
				t.Errorf("round %d: Register from %s = %v, %v", round, nodes[i], created[i], err)
			}
		}
		if wins != 1 || conflicts != 2 {
			t.Fatalf("round %d: %d created, %d ErrConflict; want 1, 2", round, wins, conflicts)
		}
		if w, _ := r.Get("w-1"); w.Node != winner || r.Len() != 1 {
			t.Fatalf("round %d: stored owner %q, Len %d; want %q, 1", round, w.Node, r.Len(), winner)
		}
	}
}

// TestConcurrentUpdatesLoseNone updates 1,000 workers at once while other
// goroutines list, reconcile an unrelated node and wait on Changed.
func TestConcurrentUpdatesLoseNone(t *testing.T) {
	const nodes, perNode = 100, 10
	r := fleet(t, nodes, perNode)
	mustRegister(t, r, "cpu-box", sampleWorker("cpu-box", "w-cpu"), t0)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { churn(r, stop) })
	var wg sync.WaitGroup
	for n := range nodes {
		for i := range perNode {
			wg.Go(func() {
				u := api.UpdateWorkerRequest{ID: fmt.Sprintf("w-%s-%02d", nodeName(n), i), State: api.WorkerBusy, SlotsAvailable: intPtr(n % 4)}
				if _, err := r.Update(nodeName(n), u, t0); err != nil {
					t.Errorf("Update %s: %v", u.ID, err)
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	for n := range nodes {
		for _, w := range r.List(api.WorkerFilter{Node: nodeName(n)}) {
			if w.State != api.WorkerBusy || w.SlotsAvailable != n%4 {
				t.Errorf("%s: state %s, slots available %d; want busy, %d", w.ID, w.State, w.SlotsAvailable, n%4)
			}
		}
	}
	if busy := len(r.List(api.WorkerFilter{State: api.WorkerBusy})); busy != nodes*perNode {
		t.Errorf("%d busy workers, want %d", busy, nodes*perNode)
	}
}

// churn reads and reconciles until stop is closed.
func churn(r *Registry, stop <-chan struct{}) {
	snapshots := [][]api.Worker{{sampleWorker("cpu-box", "w-cpu")}, nil}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-r.Changed():
		default:
		}
		r.Reconcile("cpu-box", snapshots[i%2], t0)
		_ = r.List(api.WorkerFilter{Capability: "cuda:0"})
		_, _ = r.Get("w-cpu")
	}
}
