package gateway

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// BenchmarkRoutingDecision measures one routing decision (take a slot and
// give it back) with 10,000 workers in the table: spread over 100 models,
// all of one model, all of one model with a request in flight on every
// worker (before the routing index this scanned every worker: 33 µs;
// scan-µs/decision is that scan in the same run), and
// all of one model with 2–8 slots and 1 to slots-1 requests in flight
// each. Goal: ≤ 10 µs per request, reported as µs/decision.
//
//	go test -run '^$' -bench RoutingDecision ./queen/gateway/
func BenchmarkRoutingDecision(b *testing.B) {
	for _, c := range []struct {
		name     string
		models   int
		inflight func(i int) int // requests already in flight on worker i
		slots    func(i int) int
	}{
		{"100-models", 100, func(int) int { return 0 }, func(int) int { return 4 }},
		{"1-model", 1, func(int) int { return 0 }, func(int) int { return 4 }},
		{"1-model-all-in-flight", 1, func(int) int { return 1 }, func(int) int { return 4 }},
		{"1-model-mixed-load", 1, func(i int) int { return 1 + i/7%(1+i%7) }, func(i int) int { return 2 + i%7 }},
	} {
		b.Run(c.name, func(b *testing.B) {
			tab := newTable(64)
			now := time.Now()
			ws := benchWorkers(10_000, c.models)
			for i := range ws {
				ws[i].SlotsTotal = c.slots(i)
			}
			tab.rebuild(slices.Values(ws), now)
			loadWorkers(tab, ws, c.inflight)
			b.ReportAllocs()
			for b.Loop() {
				up, _, _, _ := tab.take("hf:bench/m0", false, now)
				if up == nil {
					b.Fatal("no worker")
				}
				tab.release(up, now)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/decision")
			b.ReportMetric(scanCost(tab.pools["hf:bench/m0"]), "scan-µs/decision")
		})
	}
}

// scanCost is the µs a plain scan of p's workers takes to pick one (the
// routing decision before the index), the baseline of the same run.
func scanCost(p *pool) float64 {
	const rounds = 200
	start := time.Now()
	for range rounds {
		if scanPick(p) < 0 {
			return 0
		}
	}
	return float64(time.Since(start).Nanoseconds()) / rounds / 1e3
}

// loadWorkers puts inflight(i) requests on worker i through the table.
func loadWorkers(tab *table, ws []api.Worker, inflight func(int) int) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	for i := range ws {
		u := tab.byID[ws[i].ID]
		u.inflight = inflight(i)
		u.changed()
	}
}

// TestRoutingPicksLeastLoadedRoundRobin checks the routing rule on the
// table: the fewest in flight relative to slots, ties round-robin, a full
// worker skipped, and a freed slot handed to the head of the queue.
func TestRoutingPicksLeastLoadedRoundRobin(t *testing.T) {
	tab := newTable(1)
	now := time.Now()
	ws := benchWorkers(3, 1)
	ws[0].SlotsTotal, ws[1].SlotsTotal, ws[2].SlotsTotal = 2, 2, 4
	tab.rebuild(slices.Values(ws), now)
	var got []string
	var held []*upstream
	for range 8 {
		up, w, _, err := tab.take("hf:bench/m0", false, now)
		if up == nil || w != nil || err != nil {
			t.Fatalf("take %d: %v %v %v", len(got), up, w, err)
		}
		got = append(got, up.id)
		held = append(held, up)
	}
	want := "w-0 w-1 w-2 w-2 w-0 w-1 w-2 w-2"
	if s := joinIDs(got); s != want {
		t.Errorf("picked %s, want %s", s, want)
	}
	_, w, _, err := tab.take("hf:bench/m0", false, now)
	if w == nil || err != nil {
		t.Fatalf("9th request with every slot taken: waiter %v err %v, want queued", w, err)
	}
	if _, w2, _, err := tab.take("hf:bench/m0", false, now); w2 != nil || err == nil || err.status != 429 {
		t.Errorf("10th request past the queue of 1: %v, want 429", err)
	}
	tab.release(held[1], now)
	select {
	case g := <-w.ch:
		if g.up != held[1] {
			t.Errorf("the queued request got %s, want the freed %s", g.up.id, held[1].id)
		}
	default:
		t.Error("the freed slot did not go to the queued request")
	}
}

func joinIDs(ids []string) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += " "
		}
		s += id
	}
	return s
}

// benchWorkers returns n idle workers of 4 slots spread over models
// models (hf:bench/m0 …).
func benchWorkers(n, models int) []api.Worker {
	ws := make([]api.Worker, n)
	for i := range ws {
		ws[i] = api.Worker{ID: "w-" + strconv.Itoa(i), Node: "n-" + strconv.Itoa(i%50), URL: "http://127.0.0.1:1",
			ModelRef: "hf:bench/m" + strconv.Itoa(i%models), Backend: "cpu", State: api.WorkerIdle, SlotsTotal: 4, PID: i + 1}
	}
	return ws
}
