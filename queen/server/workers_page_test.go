package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// pageModels are the models fillWorkers spreads over a fleet: a quarter
// of the workers run each.
var pageModels = []string{"hf:a/one-GGUF", "hf:b/two-GGUF", "hf:c/three-GGUF", "/models/four.gguf"}

// fillWorkers registers perNode idle workers on each of nodes nodes
// (fleet-00000…) straight into the queen's registry: worker i of a node
// runs pageModels[i%4] on cuda device i%8, so a model filter matches a
// quarter of the fleet and a capability an eighth.
func fillWorkers(t testing.TB, s *server.Server, nodes, perNode int) {
	t.Helper()
	now := time.Now()
	for n := range nodes {
		node := fleetNode(n)
		for i := range perNode {
			w := routeWorker(fmt.Sprintf("w-%05d-%02d", n, i), api.BackendCUDA, i%8, pageModels[i%4], api.WorkerIdle)
			if _, err := s.Workers().Register(node, w, now); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func fleetNode(n int) string { return fmt.Sprintf("fleet-%05d", n) }

// listPage GETs one page; it does not touch t, so goroutines may call it.
func (q *routeQueen) listPage(ctx context.Context, query url.Values) (api.WorkerPage, routeReply, error) {
	r, err := q.send(ctx, "GET", "/v1/workers/list?"+query.Encode(), bearerAuth(token), nil)
	var p api.WorkerPage
	if err == nil && r.status == http.StatusOK {
		err = json.Unmarshal(r.body, &p)
	}
	return p, r, err
}

// walkList follows next_cursor from the first page of query to the last
// and returns every worker listed, in order.
func (q *routeQueen) walkList(ctx context.Context, query url.Values) ([]api.Worker, int, error) {
	var all []api.Worker
	query = cloneValues(query)
	for pages := 1; ; pages++ {
		p, r, err := q.listPage(ctx, query)
		if err != nil || r.status != http.StatusOK {
			return all, pages, fmt.Errorf("page %d of %v: %v %s", pages, query, err, r)
		}
		all = append(all, p.Workers...)
		if p.NextCursor == "" {
			return all, pages, nil
		}
		query.Set("cursor", p.NextCursor)
	}
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func TestWorkerListPages(t *testing.T) {
	q := startRouteQueen(t, openRouteRegistry(t), server.Config{})
	fillWorkers(t, q.srv, 63, 8) // 504 workers: one more page than the default holds
	want := workerKeys(q.srv.Workers().List(api.WorkerFilter{}))

	t.Run("default limit is 500", func(t *testing.T) {
		p, r, err := q.listPage(t.Context(), nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("list: %v %s", err, r)
		}
		if len(p.Workers) != api.DefaultWorkerPageLimit || p.NextCursor == "" {
			t.Fatalf("first page: %d workers, next_cursor %q; want 500 and a cursor", len(p.Workers), p.NextCursor)
		}
	})
	for _, tt := range []struct {
		name  string
		query url.Values
		want  []string
		pages int
	}{
		{"every worker, pages of 7", url.Values{"limit": {"7"}}, want, 72},
		{"every worker, one page of the most", url.Values{"limit": {"5000"}}, want, 1},
		{"a model, pages of 50", url.Values{"limit": {"50"}, "model": {pageModels[1]}}, keysOf(want, 1, 4), 3},
		{"a capability with a node", url.Values{"limit": {"1"}, "capability": {"cuda:3"}, "node": {fleetNode(9)}},
			[]string{fleetNode(9) + "/w-00009-03"}, 1},
		{"nothing matches", url.Values{"state": {"busy"}}, nil, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, pages, err := q.walkList(t.Context(), tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(workerKeys(got), " ") != strings.Join(tt.want, " ") || pages != tt.pages {
				t.Errorf("walk of %v: %d workers in %d pages, want %d in %d", tt.query, len(got), pages, len(tt.want), tt.pages)
			}
		})
	}
	t.Run("the last page has an empty next_cursor", func(t *testing.T) {
		r := q.must(t, "GET", "/v1/workers/list?node="+fleetNode(0), bearerAuth(token), nil)
		if !strings.HasSuffix(string(r.body), `],"next_cursor":""}`+"\n") {
			t.Errorf("body ends %q, want an explicit empty next_cursor", r.body[max(0, len(r.body)-40):])
		}
	})
}

// keysOf returns every step-th key of keys from the first-th on: the
// workers of one model in fillWorkers' fleet, when keys are all of them.
func keysOf(keys []string, first, step int) []string {
	var out []string
	for i := first; i < len(keys); i += step {
		out = append(out, keys[i])
	}
	return out
}

func TestWorkerListPageErrors(t *testing.T) {
	q := startRouteQueen(t, openRouteRegistry(t), server.Config{})
	fillWorkers(t, q.srv, 2, 2)
	for _, tt := range []struct {
		name, query, code, hint string
	}{
		{"limit 0", "limit=0", api.CodeInvalidField, "leave limit out"},
		{"limit above the most", "limit=5001", api.CodeInvalidField, "leave limit out"},
		{"limit not a number", "limit=all", api.CodeInvalidField, "leave limit out"},
		{"negative limit", "limit=-5", api.CodeInvalidField, "leave limit out"},
		{"cursor not base64", "cursor=%21%21", api.CodeInvalidCursor, "next_cursor"},
		{"cursor of no position", "cursor=" + url.QueryEscape(strings.TrimRight(api.WorkerCursor("x", "y"), "=")+"A"), api.CodeInvalidCursor, "next_cursor"},
		{"cursor too long", "cursor=" + strings.Repeat("QQ", 200), api.CodeInvalidCursor, "next_cursor"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := q.must(t, "GET", "/v1/workers/list?"+tt.query, bearerAuth(token), nil)
			d := wantError(t, r, http.StatusBadRequest, tt.code)
			if !strings.Contains(d.Hint, tt.hint) {
				t.Errorf("hint %q should say %q", d.Hint, tt.hint)
			}
		})
	}
	t.Run("a cursor of a worker that is gone still works", func(t *testing.T) {
		c := api.WorkerCursor(fleetNode(0), "w-00000-00x") // between the node's two workers
		p, r, err := q.listPage(t.Context(), url.Values{"cursor": {c}})
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("list: %v %s", err, r)
		}
		if got := strings.Join(workerKeys(p.Workers), " "); got != fleetNode(0)+"/w-00000-01 "+fleetNode(1)+"/w-00001-00 "+fleetNode(1)+"/w-00001-01" {
			t.Errorf("after a gone position: %s", got)
		}
	})
}

// TestWorkerListPagesUnderChurn pages through 20,000 workers over HTTP
// while workers are registered, removed, re-registered and change state
// beside the walk: no worker may be listed twice, and every worker that
// existed (and matched) for the whole walk must be listed.
func TestWorkerListPagesUnderChurn(t *testing.T) {
	const nodes, perNode = 1250, 16
	q := startRouteQueen(t, openRouteRegistry(t), server.Config{})
	fillWorkers(t, q.srv, nodes, perNode)
	reg := q.srv.Workers()
	// Workers of even nodes are never touched: they exist, idle, for the
	// whole walk. Odd nodes churn.
	stable := map[string]bool{}
	for _, w := range reg.List(api.WorkerFilter{}) {
		if n := nodeIndex(t, w.Node); n%2 == 0 {
			stable[w.Node+"/"+w.ID] = true
		}
	}
	var churned atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() { churn(ctx, reg, nodes, perNode, uint64(g), &churned) })
	}
	defer func() { cancel(); wg.Wait() }()

	for _, query := range []url.Values{
		{"limit": {"500"}},
		{"limit": {"300"}, "state": {api.WorkerIdle}},
		{"limit": {"100"}, "model": {pageModels[2]}},
	} {
		before := churned.Load()
		got, pages, err := q.walkList(t.Context(), query)
		if err != nil {
			t.Fatal(err)
		}
		if during := churned.Load() - before; during < int64(pages) {
			t.Fatalf("walk of %v: only %d changes during %d pages; the test did not churn", query, during, pages)
		}
		checkWalk(t, query, got, stable)
	}
}

func nodeIndex(t testing.TB, node string) int {
	var n int
	if _, err := fmt.Sscanf(node, "fleet-%05d", &n); err != nil {
		t.Fatalf("node %q: %v", node, err)
	}
	return n
}

// checkWalk fails on a worker listed twice or out of order, on one the
// filter of query does not match, and on a stable worker the filter
// matches that is missing.
func checkWalk(t testing.TB, query url.Values, got []api.Worker, stable map[string]bool) {
	t.Helper()
	f := api.WorkerFilter{Model: query.Get("model"), State: query.Get("state")}
	seen := map[string]bool{}
	prev := ""
	for _, w := range got {
		k := w.Node + "/" + w.ID
		switch {
		case seen[k]:
			t.Fatalf("walk of %v: %s listed twice", query, k)
		case k <= prev:
			t.Fatalf("walk of %v: %s after %s, out of order", query, k, prev)
		case !f.Match(w):
			t.Fatalf("walk of %v: %s does not match (%s, %s)", query, k, w.ModelRef, w.State)
		}
		seen[k], prev = true, k
	}
	missing := 0
	for k := range stable { // stable workers are idle, with the model fillWorkers gave them
		if f.Match(api.Worker{ModelRef: modelOfStable(k), State: api.WorkerIdle, Backend: api.BackendCUDA}) && !seen[k] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("walk of %v: %d workers that existed for the whole walk are missing (%d listed)", query, missing, len(got))
	}
}

// modelOfStable returns the model fillWorkers gave the stable worker k.
func modelOfStable(k string) string {
	var n, i int
	_, _ = fmt.Sscanf(k[strings.IndexByte(k, '/')+1:], "w-%05d-%02d", &n, &i)
	return pageModels[i%4]
}

// churn changes odd nodes' workers until ctx ends: it removes one,
// registers a new one or one removed before, flips one between idle and
// busy, and now and then drops a whole node and brings it back.
func churn(ctx context.Context, reg *workerregistry.Registry, nodes, perNode int, seed uint64, done *atomic.Int64) {
	rng := rand.New(rand.NewPCG(seed, 14))
	states := []string{api.WorkerIdle, api.WorkerBusy}
	for i := 0; ctx.Err() == nil; i++ {
		n := 2*rng.IntN(nodes/2) + 1
		node, id := fleetNode(n), fmt.Sprintf("w-%05d-%02d", n, rng.IntN(perNode+4))
		now := time.Now()
		switch rng.IntN(7) {
		case 0, 1:
			_, _ = reg.Remove(node, id)
		case 2, 3:
			_, _ = reg.Register(node, routeWorker(id, api.BackendCUDA, rng.IntN(8), pageModels[rng.IntN(4)], api.WorkerIdle), now)
		case 4, 5:
			_, _ = reg.Update(node, api.UpdateWorkerRequest{ID: id, State: states[rng.IntN(2)]}, now)
		default:
			if rng.IntN(20) == 0 {
				reg.RemoveNode(node)
			}
		}
		done.Add(1)
		if i%64 == 0 {
			time.Sleep(100 * time.Microsecond) // let the pages through under -race
		}
	}
}
