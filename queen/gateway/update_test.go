package gateway

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// TestUpdateMatchesRebuild changes a real registry at random (new
// workers, state, slot and model changes, removals, whole nodes going)
// and checks after each batch that the table kept up by update from the
// change log routes exactly as one rebuilt from every record: the same
// workers per model with the same fields, and no other.
func TestUpdateMatchesRebuild(t *testing.T) {
	reg, rng, now := workerregistry.New(), rand.New(rand.NewPCG(3, 4)), time.Now()
	models := []string{"hf:a/m", "hf:b/m", "hf:c/m"}
	states := []string{api.WorkerIdle, api.WorkerBusy, api.WorkerLoading, api.WorkerUnhealthy}
	inc := newTable(0)
	inc.rebuild(reg.All(), now)
	version := reg.Version()
	for batch := range 300 {
		for range rng.IntN(6) {
			node := fmt.Sprintf("n-%d", rng.IntN(4))
			id := fmt.Sprintf("w-%s-%d", node, rng.IntN(8))
			switch rng.IntN(10) {
			case 0:
				_, _ = reg.Remove(node, id)
			case 1:
				if rng.IntN(4) == 0 {
					reg.RemoveNode(node)
				}
			default:
				w := api.Worker{ID: id, URL: "http://127.0.0.1:" + fmt.Sprint(9000+rng.IntN(3)), ModelRef: models[rng.IntN(len(models))],
					Backend: "cpu", State: states[rng.IntN(len(states))], SlotsTotal: 1 + rng.IntN(4), PID: 100 + rng.IntN(3)}
				_, _ = reg.Register(node, w, now)
			}
		}
		changes, v, ok := reg.ChangesSince(version)
		if !ok {
			t.Fatalf("batch %d: the log does not reach back to %d", batch, version)
		}
		inc.update(changes, now)
		version = v
		full := newTable(0)
		full.rebuild(reg.All(), now)
		if got, want := routing(inc), routing(full); !slices.Equal(got, want) {
			t.Fatalf("batch %d: updated table routes\n%v\nrebuilt one\n%v", batch, got, want)
		}
	}
}

// routing describes what t routes: every pool's listed workers with their
// fields, sorted, and every worker t holds.
func routing(t *table) []string {
	var out []string
	for model, p := range t.pools {
		for i, u := range p.ups {
			if u.pool != p || int(u.pos) != i || p.index.node[p.index.size+i] != u.load() {
				out = append(out, "index out of step at "+u.id)
			}
			out = append(out, fmt.Sprintf("%s %s %s %s %d %d routable=%v loading=%v listed=%v free=%v",
				model, u.id, u.node, u.url, u.slots, u.pid, u.routable, u.loading, u.listed, u.free()))
		}
		if len(p.ups) == 0 {
			out = append(out, "empty pool "+model)
		}
	}
	for id, u := range t.byID {
		out = append(out, fmt.Sprintf("held %s %s listed=%v", id, u.model, u.listed))
	}
	sort.Strings(out)
	return out
}

// TestRefreshFallsBackToRebuild checks refresh past the change log's
// reach: when more changed than the log holds, the table is rebuilt from
// every record and still routes every worker.
func TestRefreshFallsBackToRebuild(t *testing.T) {
	reg := workerregistry.New()
	g := New(Config{Workers: reg})
	g.refresh()
	now := time.Now()
	const n = 1<<16 + 10 // more than the registry's log holds
	for i := range n {
		w := api.Worker{ID: fmt.Sprintf("w-%d", i), URL: "http://127.0.0.1:1", ModelRef: "hf:a/m", Backend: "cpu",
			State: api.WorkerIdle, SlotsTotal: 1, PID: 1}
		if _, err := reg.Register("n-1", w, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok := reg.ChangesSince(g.version); ok {
		t.Fatal("the log still reaches back: the test does not test the fallback")
	}
	g.refresh()
	if got := len(g.table.pools["hf:a/m"].ups); got != n {
		t.Errorf("after refresh the table routes %d workers, want %d", got, n)
	}
	if _, err := reg.Remove("n-1", "w-0"); err != nil {
		t.Fatal(err)
	}
	g.refresh() // from the log again
	if got := len(g.table.pools["hf:a/m"].ups); got != n-1 || g.table.byID["w-0"] != nil {
		t.Errorf("after a removal the table routes %d workers (w-0 held: %v), want %d", got, g.table.byID["w-0"] != nil, n-1)
	}
}
