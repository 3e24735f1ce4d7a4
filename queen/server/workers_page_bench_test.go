package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// BenchmarkWorkerListPages serves GET /v1/workers/list from the real
// handler over loopback HTTP with 160,000 workers (10,000 hives × 16) and
// times pages as a client sees them (request sent to last byte read):
// a page of 500 of one model (40,000 match) and of one capability
// (20,000), each from cursors spread over its matches, a walk of the whole
// fleet in pages of 500 and of 5,000, and last a walk in pages of 500
// while workers are registered, removed and change state beside it,
// checked as TestWorkerListPagesUnderChurn checks its walks (changes:
// how many were made during the walk). It reports p50-ms and p99-ms
// per page, B/page (every allocation of the process, client included,
// per page; the client keeps only the page's tail) and, for the walks, walk-ms. The before (the whole list in
// one answer, scanned and sorted) is measured beside it in the same run
// by BenchmarkListPage in queen/workerregistry:
//
//	go test -run '^$' -bench WorkerListPages -benchtime 1x ./queen/server/
func BenchmarkWorkerListPages(b *testing.B) {
	q := startRouteQueen(b, openRouteRegistry(b), server.Config{})
	fillWorkers(b, q.srv, 10_000, 16)
	model, capability := api.WorkerFilter{Model: pageModels[1]}, api.WorkerFilter{Capability: "cuda:3"}
	for _, bc := range []struct {
		name   string
		f      api.WorkerFilter
		limit  int
		spread int // pages from cursors spread over the matches; 0: walk them all
	}{
		{"model-page-500", model, 500, 300},
		{"capability-page-500", capability, 500, 300},
		{"all-walk-500", api.WorkerFilter{}, 500, 0},
		{"all-walk-5000", api.WorkerFilter{}, 5000, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if bc.spread > 0 {
					timePages(b, q, spreadQueries(q, bc.f, bc.limit, bc.spread))
					continue
				}
				timeWalk(b, q, bc.f, bc.limit)
			}
		})
	}
	b.Run("all-walk-500-churn", func(b *testing.B) {
		for b.Loop() {
			walkUnderChurn(b, q, 10_000)
		}
	})
}

// walkUnderChurn walks the whole fleet in pages of 500 while two
// goroutines change the odd nodes' workers, as TestWorkerListPagesUnderChurn
// does at 20,000, and fails on a worker listed twice or a worker of an
// even node (never changed) missing; it reports the pages as timeWalk does
// and the changes made during the walk in changes.
func walkUnderChurn(b *testing.B, q *routeQueen, nodes int) {
	b.Helper()
	stable := map[string]bool{}
	for _, w := range q.srv.Workers().List(api.WorkerFilter{}) {
		if nodeIndex(b, w.Node)%2 == 0 {
			stable[w.Node+"/"+w.ID] = true
		}
	}
	var churned atomic.Int64
	ctx, cancel := context.WithCancel(b.Context())
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() { churn(ctx, q.srv.Workers(), nodes, 16, uint64(g), &churned) })
	}
	all, durs, err := timedWalk(ctx, q, url.Values{"limit": {"500"}})
	cancel()
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	checkWalk(b, url.Values{}, all, stable)
	reportPages(b, durs, 0)
	b.ReportMetric(float64(churned.Load()), "changes")
}

// timedWalk is walkList that also returns how long each page took.
func timedWalk(ctx context.Context, q *routeQueen, query url.Values) ([]api.Worker, []time.Duration, error) {
	var all []api.Worker
	var durs []time.Duration
	for {
		start := time.Now()
		p, r, err := q.listPage(ctx, query)
		durs = append(durs, time.Since(start))
		if err != nil || r.status != http.StatusOK {
			return all, durs, fmt.Errorf("page %d: %v %s", len(durs), err, r)
		}
		all = append(all, p.Workers...)
		if p.NextCursor == "" {
			return all, durs, nil
		}
		query.Set("cursor", p.NextCursor)
	}
}

// spreadQueries returns n page queries of f whose cursors are spread
// evenly over f's matches.
func spreadQueries(q *routeQueen, f api.WorkerFilter, limit, n int) []url.Values {
	keys := q.srv.Workers().List(f)
	out := make([]url.Values, n)
	for i := range out {
		v := filterValues(f)
		v.Set("limit", strconv.Itoa(limit))
		if k := (i * len(keys)) / n; k > 0 {
			v.Set("cursor", api.WorkerCursor(keys[k-1].Node, keys[k-1].ID))
		}
		out[i] = v
	}
	return out
}

func filterValues(f api.WorkerFilter) url.Values {
	v := url.Values{}
	for name, val := range map[string]string{"node": f.Node, "model": f.Model, "capability": f.Capability, "state": f.State} {
		if val != "" {
			v.Set(name, val)
		}
	}
	return v
}

// timePages GETs each query once and reports the pages' p50, p99 and
// bytes allocated per page.
func timePages(b *testing.B, q *routeQueen, queries []url.Values) {
	b.Helper()
	durs := make([]time.Duration, len(queries))
	before := allocated()
	for i, v := range queries {
		start := time.Now()
		getPage(b, q, v)
		durs[i] = time.Since(start)
	}
	reportPages(b, durs, allocated()-before)
}

// timeWalk follows f's cursors from the first page to the last and reports
// as timePages does, and the whole walk in walk-ms.
func timeWalk(b *testing.B, q *routeQueen, f api.WorkerFilter, limit int) {
	b.Helper()
	v := filterValues(f)
	v.Set("limit", strconv.Itoa(limit))
	var durs []time.Duration
	before, start := allocated(), time.Now()
	for {
		t := time.Now()
		next := getPage(b, q, v)
		durs = append(durs, time.Since(t))
		if next == "" {
			break
		}
		v.Set("cursor", next)
	}
	b.ReportMetric(millis(time.Since(start)), "walk-ms")
	reportPages(b, durs, allocated()-before)
}

// getPage GETs one page, reads it to the end keeping only its tail, and
// returns its next_cursor, found in that tail without decoding the
// workers, so the page's allocations are mostly the queen's.
func getPage(b *testing.B, q *routeQueen, v url.Values) string {
	b.Helper()
	req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, q.url+"/v1/workers/list?"+v.Encode(), nil)
	req.Header.Set("Authorization", bearerAuth(token))
	resp, err := q.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var t tailWriter
	if _, err := io.CopyBuffer(&t, resp.Body, copyBuf[:]); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("list %v: %v %d …%s", v, err, resp.StatusCode, t.tail)
	}
	const key = `"next_cursor":"`
	i := bytes.LastIndex(t.tail, []byte(key))
	if i < 0 {
		b.Fatalf("no next_cursor in …%s", t.tail)
	}
	cursor := t.tail[i+len(key):]
	return string(cursor[:bytes.IndexByte(cursor, '"')])
}

// copyBuf is getPage's read buffer; the benchmark reads one page at a
// time.
var copyBuf [32 << 10]byte

// tailWriter keeps the last 512 bytes written to it.
type tailWriter struct{ tail []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.tail = append(t.tail, p[max(0, len(p)-512):]...)
	if len(t.tail) > 512 {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-512:]...)
	}
	return len(p), nil
}

// reportPages reports the p50 and p99 of durs, and alloc per page unless
// it is 0.
func reportPages(b *testing.B, durs []time.Duration, alloc uint64) {
	slices.Sort(durs)
	b.ReportMetric(millis(durs[len(durs)/2]), "p50-ms")
	b.ReportMetric(millis(durs[(len(durs)*99)/100]), "p99-ms")
	if alloc > 0 {
		b.ReportMetric(float64(alloc)/float64(len(durs)), "B/page")
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func allocated() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
