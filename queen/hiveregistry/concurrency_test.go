package hiveregistry

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestConcurrentAddsOfDistinctNamesAllLand(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		const n = 50
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = r.Add(t.Context(), sampleNode(t, fmt.Sprintf("gpu-%02d", i))) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Add gpu-%02d: %v", i, err)
			}
		}
		nodes, err := r.List(t.Context())
		if err != nil || len(nodes) != n {
			t.Fatalf("List = %d nodes, %v; want %d", len(nodes), err, n)
		}
	})
}

func TestConcurrentAddsOfOneNameOneWins(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		var ok, exists, other atomic.Int32
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				n := sampleNode(t, "gpu-1")
				n.AgentPort = 9000 + i
				switch err := r.Add(t.Context(), n); {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrExists):
					exists.Add(1)
				default:
					other.Add(1)
					t.Errorf("Add: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || exists.Load() != 9 || other.Load() != 0 {
			t.Errorf("successes, ErrExists, other = %d, %d, %d; want 1, 9, 0", ok.Load(), exists.Load(), other.Load())
		}
	})
}

func TestConcurrentUpdatesLoseNoWrite(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		start := sampleNode(t, "gpu-1")
		start.AgentPort = 1000
		if err := r.Add(t.Context(), start); err != nil {
			t.Fatalf("Add: %v", err)
		}
		const workers, each = 8, 10
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					_, err := r.Update(t.Context(), "gpu-1", func(n *api.Node) error {
						n.AgentPort++
						return nil
					})
					if err != nil {
						t.Errorf("Update: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		got, err := r.Get(t.Context(), "gpu-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if want := 1000 + workers*each; got.AgentPort != want {
			t.Errorf("AgentPort = %d after %d increments from 1000, want %d", got.AgentPort, workers*each, want)
		}
	})
}
