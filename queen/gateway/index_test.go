package gateway

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestPickRules pins the routing rules on the index: among the model's
// workers the registry lists idle or busy, the fewest requests in flight
// relative to slots_total wins; a worker at its slots, down, stopping,
// loading or unhealthy takes nothing; equal ratios (1/2 and 2/4 too) go
// round-robin from the worker after the last one picked.
func TestPickRules(t *testing.T) {
	for _, c := range []struct {
		name     string
		slots    []int
		inflight []int
		out      map[int]string // worker → why it is out of routing
		picks    int
		want     string // the workers picked, "-" for none
	}{
		{name: "ties round-robin", slots: []int{4, 4, 4}, picks: 6, want: "w-0 w-1 w-2 w-0 w-1 w-2"},
		{name: "fewest relative to slots", slots: []int{2, 4}, inflight: []int{1, 1}, picks: 1, want: "w-1"},
		{name: "relative, then round-robin among equal ratios", slots: []int{2, 4}, inflight: []int{1, 1}, picks: 4,
			want: "w-1 w-0 w-1 w-1"},
		{name: "1/2 ties 2/4", slots: []int{2, 4}, inflight: []int{1, 2}, picks: 2, want: "w-0 w-1"},
		{name: "a worker at its slots is busy", slots: []int{1, 1}, inflight: []int{1, 0}, picks: 2, want: "w-1 -"},
		{name: "every worker full", slots: []int{2, 3}, inflight: []int{2, 3}, picks: 1, want: "-"},
		{name: "mixed slots from idle to full", slots: []int{2, 2, 4}, picks: 9,
			want: "w-0 w-1 w-2 w-2 w-0 w-1 w-2 w-2 -"},
		{name: "out of routing is skipped", slots: []int{4, 4, 4, 4, 4, 4}, inflight: []int{0, 0, 0, 0, 0, 3},
			out:   map[int]string{0: "down", 1: "stopping", 2: "loading", 3: "unhealthy"},
			picks: 3, want: "w-4 w-4 w-4"},
		{name: "the lightest is found behind the round-robin start", slots: []int{8, 8, 8, 8},
			inflight: []int{5, 6, 6, 6}, picks: 3, want: "w-0 w-1 w-2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tab, now := newTable(0), time.Now()
			ws := benchWorkers(len(c.slots), 1)
			for i := range ws {
				ws[i].SlotsTotal = c.slots[i]
				switch c.out[i] {
				case "loading":
					ws[i].State = api.WorkerLoading
				case "unhealthy":
					ws[i].State = api.WorkerUnhealthy
				}
			}
			tab.rebuild(slices.Values(ws), now)
			for i, n := range c.inflight {
				u := tab.byID[ws[i].ID]
				u.inflight = n
				u.changed()
			}
			for i, why := range c.out {
				switch why {
				case "down":
					tab.markDown(tab.byID[ws[i].ID], now)
				case "stopping":
					tab.byID[ws[i].ID].stopping = true
					tab.byID[ws[i].ID].changed()
				}
			}
			var got []string
			for range c.picks {
				up, _, _, _ := tab.take("hf:bench/m0", false, now)
				if up == nil {
					got = append(got, "-")
					continue
				}
				got = append(got, up.id)
			}
			if s := strings.Join(got, " "); s != c.want {
				t.Errorf("picked %s, want %s", s, c.want)
			}
		})
	}
}

// scanPick is the routing rule as a plain scan of every worker (the pick
// before the index): the reference the index is checked against.
func scanPick(p *pool) int {
	n, best := len(p.ups), -1
	for k := range n {
		i := (p.next + k) % n
		u := p.ups[i]
		if u.free() && (best == -1 || u.inflight*p.ups[best].slots < p.ups[best].inflight*u.slots) {
			best = i
			if u.inflight == 0 {
				break // nothing is lighter
			}
		}
	}
	return best
}

// TestIndexAgreesWithScan drives a table through random takes, releases,
// down marks, stops and registry rebuilds (states, slots and workers
// changing) and checks before every take that the index picks the worker
// a scan of all of them would.
func TestIndexAgreesWithScan(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, 333} {
		rng := rand.New(rand.NewPCG(uint64(n), 12))
		tab, now := newTable(1<<20), time.Now()
		ws := randomWorkers(rng, n)
		tab.rebuild(slices.Values(ws), now)
		var held []*upstream
		for step := range 20 * n {
			switch op := rng.IntN(20); {
			case op < 10:
				p := tab.pools["hf:bench/m0"]
				want := -1
				if p != nil {
					want = scanPick(p)
				}
				up, w, _, _ := tab.take("hf:bench/m0", false, now)
				if w != nil {
					tab.leave("hf:bench/m0", w)
				}
				if got := posOf(p, up); got != want {
					t.Fatalf("%d workers, step %d: index picked %d, a scan picks %d", n, step, got, want)
				}
				if up != nil {
					held = append(held, up)
				}
			case op < 16 && len(held) > 0:
				k := rng.IntN(len(held))
				tab.release(held[k], now)
				held = append(held[:k], held[k+1:]...)
			case op == 16:
				tab.markDown(tab.byID[ws[rng.IntN(len(ws))].ID], now)
			case op == 17:
				if u := tab.byID[ws[rng.IntN(len(ws))].ID]; u != nil {
					tab.mu.Lock()
					u.stopping = !u.stopping
					u.changed()
					tab.mu.Unlock()
				}
			case op == 18:
				tab.expireDown(now.Add(time.Duration(rng.IntN(2)) * 2 * downFor))
			default:
				ws = randomWorkers(rng, n)
				tab.rebuild(slices.Values(ws), now)
			}
		}
	}
}

// randomWorkers returns n workers of one model with 1–4 slots, most idle
// or busy, some loading or unhealthy, and a worker now and then missing.
func randomWorkers(rng *rand.Rand, n int) []api.Worker {
	states := []string{api.WorkerIdle, api.WorkerIdle, api.WorkerBusy, api.WorkerLoading, api.WorkerUnhealthy}
	var out []api.Worker
	for _, w := range benchWorkers(n, 1) {
		if n > 1 && rng.IntN(10) == 0 {
			continue
		}
		w.SlotsTotal = 1 + rng.IntN(4)
		w.State = states[rng.IntN(len(states))]
		out = append(out, w)
	}
	return out
}

func posOf(p *pool, up *upstream) int {
	if up == nil {
		return -1
	}
	return int(up.pos)
}
