package workerregistry

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// referenceList is List as it was before the indexes: every record of the
// registry (or of the node) scanned, matched and sorted. Tests compare the
// indexed walks against it; BenchmarkListPage measures it as the before.
func referenceList(r *Registry, f api.WorkerFilter) []api.Worker {
	m := newMatcher(f)
	r.mu.RLock()
	defer r.mu.RUnlock()
	entries := slices.Collect(maps.Values(r.byID))
	if f.Node != "" {
		entries = r.byNode[f.Node]
	}
	var matched []*entry
	for _, e := range entries {
		if m.match(&e.w) {
			matched = append(matched, e)
		}
	}
	slices.SortFunc(matched, compareEntries)
	out := make([]api.Worker, len(matched))
	for i, e := range matched {
		out[i] = cloneWorker(e.w)
	}
	return out
}

// walkPages lists f page by page, limit workers a page, each page starting
// after the last worker of the one before, and fails when a page that
// reports more is not full or a page is empty but for the first.
func walkPages(t testing.TB, r *Registry, f api.WorkerFilter, limit int) []api.Worker {
	t.Helper()
	var all []api.Worker
	after := Position{}
	for pages := 0; ; pages++ {
		if pages > r.Len()+1 {
			t.Fatalf("Page(%+v, …, %d): more than %d pages; the walk does not move on", f, limit, pages)
		}
		page, more := r.Page(f, after, limit, nil)
		if len(page) == 0 && pages > 0 {
			t.Fatalf("Page(%+v, %+v, %d): empty page after one that said more", f, after, limit)
		}
		if more && len(page) != limit {
			t.Fatalf("Page(%+v, %+v, %d) = %d workers and more, want a full page", f, after, limit, len(page))
		}
		all = append(all, page...)
		if !more {
			return all
		}
		last := page[len(page)-1]
		after = Position{Node: last.Node, ID: last.ID}
	}
}

// checkIndex fails when a tree holds an entry of another key, or the trees
// of a kind do not hold every entry once.
func checkIndex(t testing.TB, r *Registry) {
	t.Helper()
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := len(r.byID)
	if got := r.idx.all.Len(); got != n {
		t.Fatalf("all holds %d entries, the registry %d", got, n)
	}
	countIn(t, "model", r.idx.model, n, func(e *entry) string { return e.w.ModelRef })
	countIn(t, "capability", r.idx.capab, n, func(e *entry) capKey { return capOf(&e.w) })
	countIn(t, "state", r.idx.state, n, func(e *entry) string { return e.w.State })
}

func countIn[K comparable](t testing.TB, kind string, m map[K]*tree, want int, key func(*entry) K) {
	t.Helper()
	total := 0
	for k, tr := range m {
		if tr.Len() == 0 {
			t.Errorf("%s %v: empty tree kept", kind, k)
		}
		tr.Ascend(func(e *entry) bool {
			if key(e) != k {
				t.Errorf("%s tree %v holds %s/%s of %v", kind, k, e.w.Node, e.w.ID, key(e))
			}
			return true
		})
		total += tr.Len()
	}
	if total != want {
		t.Errorf("%s trees hold %d entries, the registry %d", kind, total, want)
	}
}

// TestPagesAgreeWithAFullScan drives the registry through random
// registers, re-registers with other fields, updates, removals, snapshots
// and node removals, and checks after each round that every filter's
// pages, of every size, list what a scan of every record lists.
func TestPagesAgreeWithAFullScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	models := []string{"hf:a/one-GGUF", "hf:b/two-GGUF", "/models/three.gguf"}
	backends := []string{api.BackendCPU, api.BackendCUDA, "rocm"}
	states := api.WorkerStates()
	randomWorker := func(node, id string) api.Worker {
		w := sampleWorker(node, id)
		w.ModelRef, w.Backend = models[rng.IntN(len(models))], backends[rng.IntN(len(backends))]
		w.Device, w.State = rng.IntN(3), states[rng.IntN(len(states))]
		return w
	}
	r := New()
	for round := range 40 {
		for range 60 {
			node := nodeName(rng.IntN(12))
			id := fmt.Sprintf("w-%02d", rng.IntN(40))
			switch op := rng.IntN(10); {
			case op < 5:
				_, _ = r.Register(node, randomWorker(node, id), t0) // another node's id conflicts: fine
			case op < 7:
				_, _ = r.Update(node, api.UpdateWorkerRequest{ID: id, State: states[rng.IntN(len(states))]}, t0)
			case op < 8:
				_, _ = r.Remove(node, id)
			case op < 9:
				var snap []api.Worker
				for _, w := range r.List(api.WorkerFilter{Node: node}) {
					if rng.IntN(3) > 0 {
						snap = append(snap, randomWorker(node, w.ID))
					}
				}
				snap = append(snap, randomWorker(node, fmt.Sprintf("w-%02d", rng.IntN(40))))
				r.Reconcile(node, snap, t0)
			default:
				r.RemoveNode(node)
			}
		}
		checkIndex(t, r)
		for _, f := range filtersOf(models, backends, states, nodeName(round%12)) {
			want := ids(referenceList(r, f))
			if got := ids(r.List(f)); !slices.Equal(got, want) {
				t.Fatalf("round %d: List(%+v) = %v, want %v", round, f, got, want)
			}
			for _, limit := range []int{1, 3, 500} {
				if got := ids(walkPages(t, r, f, limit)); !slices.Equal(got, want) {
					t.Fatalf("round %d: pages of %d of %+v = %v, want %v", round, limit, f, got, want)
				}
			}
		}
	}
}

// filtersOf returns no filter, each single field, and some combinations.
func filtersOf(models, backends, states []string, node string) []api.WorkerFilter {
	fs := []api.WorkerFilter{{}, {Node: node}, {Node: "gpu-none"}, {Capability: "cuda:9"}}
	for _, m := range models {
		fs = append(fs, api.WorkerFilter{Model: m}, api.WorkerFilter{Model: m, Node: node})
	}
	for _, b := range backends {
		c := api.CapabilityOf(b, 1)
		fs = append(fs, api.WorkerFilter{Capability: c}, api.WorkerFilter{Capability: c, State: api.WorkerIdle})
	}
	for _, s := range states {
		fs = append(fs, api.WorkerFilter{State: s}, api.WorkerFilter{State: s, Model: models[0], Node: node})
	}
	return fs
}

func TestPage(t *testing.T) {
	r := fleet(t, 3, 4) // gpu-0000…0002, w-<node>-00…03, devices 0–3
	tests := []struct {
		name     string
		f        api.WorkerFilter
		after    Position
		limit    int
		want     []string
		wantMore bool
	}{
		{name: "first page", limit: 3,
			want: []string{"gpu-0000/w-gpu-0000-00", "gpu-0000/w-gpu-0000-01", "gpu-0000/w-gpu-0000-02"}, wantMore: true},
		{name: "across nodes", after: Position{"gpu-0000", "w-gpu-0000-02"}, limit: 2,
			want: []string{"gpu-0000/w-gpu-0000-03", "gpu-0001/w-gpu-0001-00"}, wantMore: true},
		{name: "last page exactly full", after: Position{"gpu-0002", "w-gpu-0002-00"}, limit: 3,
			want: []string{"gpu-0002/w-gpu-0002-01", "gpu-0002/w-gpu-0002-02", "gpu-0002/w-gpu-0002-03"}},
		{name: "after a position nobody holds", after: Position{"gpu-0001", "w-gpu-0001-015"}, limit: 2,
			want: []string{"gpu-0001/w-gpu-0001-02", "gpu-0001/w-gpu-0001-03"}, wantMore: true},
		{name: "after the end", after: Position{"zz", "w"}, limit: 2},
		{name: "node from its start", f: api.WorkerFilter{Node: "gpu-0001"}, limit: 10,
			want: []string{"gpu-0001/w-gpu-0001-00", "gpu-0001/w-gpu-0001-01", "gpu-0001/w-gpu-0001-02", "gpu-0001/w-gpu-0001-03"}},
		{name: "node, a position of an earlier node", f: api.WorkerFilter{Node: "gpu-0001"}, after: Position{"gpu-0000", "w-gpu-0000-03"}, limit: 1,
			want: []string{"gpu-0001/w-gpu-0001-00"}, wantMore: true},
		{name: "node, a position of a later node", f: api.WorkerFilter{Node: "gpu-0001"}, after: Position{"gpu-0002", "w"}, limit: 5},
		{name: "capability pages", f: api.WorkerFilter{Capability: "cuda:2"}, after: Position{"gpu-0000", "w-gpu-0000-02"}, limit: 1,
			want: []string{"gpu-0001/w-gpu-0001-02"}, wantMore: true},
		{name: "capability with node", f: api.WorkerFilter{Capability: "cuda:2", Node: "gpu-0002"}, limit: 1,
			want: []string{"gpu-0002/w-gpu-0002-02"}},
		{name: "limit 0 says whether any matches", f: api.WorkerFilter{Capability: "cuda:3"}, limit: 0, wantMore: true},
		{name: "limit 0, none", f: api.WorkerFilter{Capability: "cuda:7"}, limit: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more := r.Page(tt.f, tt.after, tt.limit, nil)
			if !slices.Equal(ids(got), tt.want) || more != tt.wantMore {
				t.Errorf("Page = %v, more %v; want %v, more %v", ids(got), more, tt.want, tt.wantMore)
			}
		})
	}
}

// TestPageAfterTheLastWorkerWentAway: a position is a key, so removing the
// worker a page ended on neither skips nor repeats the next one.
func TestPageAfterTheLastWorkerWentAway(t *testing.T) {
	r := fleet(t, 2, 3)
	page, _ := r.Page(api.WorkerFilter{}, Position{}, 2, nil)
	last := page[len(page)-1]
	if _, err := r.Remove(last.Node, last.ID); err != nil {
		t.Fatal(err)
	}
	rest, more := r.Page(api.WorkerFilter{}, Position{last.Node, last.ID}, 10, nil)
	want := []string{"gpu-0000/w-gpu-0000-02", "gpu-0001/w-gpu-0001-00", "gpu-0001/w-gpu-0001-01", "gpu-0001/w-gpu-0001-02"}
	if !slices.Equal(ids(rest), want) || more {
		t.Errorf("after removing %s: %v (more %v), want %v", last.ID, ids(rest), more, want)
	}
}

// TestPageAppendsCopies: a page goes after what out holds, and changing a
// returned record changes nothing stored.
func TestPageAppendsCopies(t *testing.T) {
	r := New()
	w := sampleWorker("gpu-1", "w-1")
	w.State, w.ExitCode = api.WorkerFailed, intPtr(3)
	mustRegister(t, r, "gpu-1", w, t0)
	out, _ := r.Page(api.WorkerFilter{}, Position{}, 5, []api.Worker{{ID: "before"}})
	if len(out) != 2 || out[0].ID != "before" || out[1].ID != "w-1" {
		t.Fatalf("Page appended %v", ids(out))
	}
	*out[1].ExitCode = 99
	if got, _ := r.Get("w-1"); *got.ExitCode != 3 {
		t.Errorf("stored exit code = %d after changing a page's copy, want 3", *got.ExitCode)
	}
}
