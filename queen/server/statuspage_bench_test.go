package server_test

// Benchmarks of the status page and /metrics at fleet scale; run each one
// alone, without -race:
//
//	go test -run '^$' -bench StatusPage -benchtime 1x ./queen/server/
//	go test -run '^$' -bench MetricsScrape ./queen/server/

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/loadgen"
	"github.com/rbee-fleet/rbee/queen/server"
)

// Shape of the status page benchmark's fleet.
const (
	pageHives   = 1000
	pageWorkers = 16
	pagePoll    = 750 * time.Millisecond // the page's poll interval (app.js)
	pageWindow  = 8 * time.Second
	// pageBeatsPerSecond is 1,000 hives beating every 5 s.
	pageBeatsPerSecond = pageHives / 5
)

// benchQueen is an in-process queen over a real SQLite registry whose
// hives beat through loadgen on loopback.
type benchQueen struct {
	srv   *server.Server
	url   string
	hives []loadgen.Hive
}

func newBenchQueen(b *testing.B, hives, workers int) *benchQueen {
	b.Helper()
	reg := openBenchRegistry(b, filepath.Join(b.TempDir(), "beehives.db"))
	q := &benchQueen{hives: registerFleet(b, reg, "sp", hives)}
	q.srv = server.New(server.Config{Registry: reg, Token: token, Logger: slog.New(slog.DiscardHandler),
		HeartbeatInterval: benchInterval, StaleAfter: time.Minute})
	ts := httptest.NewServer(q.srv.Handler())
	b.Cleanup(ts.Close)
	q.url = ts.URL
	runLoad(b, loadgen.Config{BaseURL: q.url, Hives: q.hives, WorkersPerHive: workers, Concurrency: 16, Count: hives})
	requireWorkers(b, q.url, token, hives*workers)
	return q
}

// serve runs one request through the queen's handler in-process and
// returns the recorded answer and how long the handler took.
func (q *benchQueen) serve(method, target, cookie, form string) (*httptest.ResponseRecorder, time.Duration) {
	req := httptest.NewRequest(method, target, strings.NewReader(form))
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "rbee_session", Value: cookie})
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	q.srv.Handler().ServeHTTP(rec, req)
	return rec, time.Since(start)
}

func (q *benchQueen) login(b *testing.B) string {
	b.Helper()
	rec, _ := q.serve("POST", "/ui/login", "", url.Values{"token": {token}}.Encode())
	for _, c := range rec.Result().Cookies() {
		if c.Name == "rbee_session" {
			return c.Value
		}
	}
	b.Fatalf("login: %d %s", rec.Code, rec.Body)
	return ""
}

// BenchmarkStatusPage measures, with 1,000 nodes and 16,000 workers in a
// real queen: the server-side render of the whole page (the first, which
// renders every row, and the next ones, which reuse the rows; target
// ≤ 50 ms), and what one open page's live update costs the queen while
// the hives beat at 200/s (1,000 hives every 5 s) through loadgen: the
// time the queen spends answering the page's polls (every 750 ms) per
// second of wall time, an upper bound of its CPU share (target ≤ 1 % of
// a core). The cost is measured with unchanged worker lists and with
// churn, where every beat changes a worker's free slots.
//
//	go test -run '^$' -bench StatusPage -benchtime 1x ./queen/server/
func BenchmarkStatusPage(b *testing.B) {
	q := newBenchQueen(b, pageHives, pageWorkers)
	cookie := q.login(b)
	var first time.Duration
	var renders []time.Duration
	var still, churn float64
	for b.Loop() {
		rec, took := q.serve("GET", "/", cookie, "")
		if rec.Code != 200 || strings.Count(rec.Body.String(), `<tr id="w-`) != pageHives*pageWorkers {
			b.Fatalf("page: %d, %d worker rows", rec.Code, strings.Count(rec.Body.String(), `<tr id="w-`))
		}
		first = took
		renders = q.renders(b, cookie, 20)
		still = q.pageCost(b, cookie, false)
		churn = q.pageCost(b, cookie, true)
	}
	slices.Sort(renders)
	b.ReportMetric(ms(first), "first-render-ms")
	b.ReportMetric(ms(renders[len(renders)/2]), "render-p50-ms")
	b.ReportMetric(ms(renders[len(renders)-1]), "render-max-ms")
	b.ReportMetric(still*100, "page-core-%")
	b.ReportMetric(churn*100, "churn-page-core-%")
}

// renders times n renders of the page, each after the view's refresh
// interval so that each one refreshes from the registries.
func (q *benchQueen) renders(b *testing.B, cookie string, n int) []time.Duration {
	b.Helper()
	var out []time.Duration
	for i := range n {
		if i%4 == 0 {
			time.Sleep(time.Second) // every fourth render refreshes the view
		}
		rec, took := q.serve("GET", "/", cookie, "")
		if rec.Code != 200 {
			b.Fatalf("page: %d", rec.Code)
		}
		out = append(out, took)
	}
	return out
}

// pageCost drives the hives at pageBeatsPerSecond for pageWindow while a
// page polls, and returns the share of the window the queen spent on the
// page's polls.
func (q *benchQueen) pageCost(b *testing.B, cookie string, churn bool) float64 {
	b.Helper()
	rec, _ := q.serve("GET", "/", cookie, "")
	seq := seqOf(b, rec.Body.String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for end := time.Now().Add(pageWindow); time.Now().Before(end); {
			start := time.Now()
			runLoad(b, loadgen.Config{BaseURL: q.url, Hives: q.hives, WorkersPerHive: pageWorkers,
				Concurrency: 8, Count: pageBeatsPerSecond, Churn: churn})
			time.Sleep(time.Second - time.Since(start))
		}
	}()
	var spent time.Duration
	var rows int
	start := time.Now()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(pagePoll):
			rec, took := q.serve("GET", "/ui/updates?since="+seq, cookie, "")
			spent += took
			rows += strings.Count(rec.Body.String(), `"t":"`)
			if rows == 0 && spent > 0 {
				b.Logf("poll: %d %.300s", rec.Code, rec.Body.String())
			}
			seq = nextSeq(b, rec.Body.String())
		}
	}
	wall := time.Since(start)
	b.Logf("churn=%v: %v in the page's polls over %v (%d rows sent)", churn, spent, wall.Round(time.Millisecond), rows)
	return spent.Seconds() / wall.Seconds()
}

func seqOf(b *testing.B, page string) string {
	b.Helper()
	_, rest, ok := strings.Cut(page, `data-seq="`)
	seq, _, _ := strings.Cut(rest, `"`)
	if !ok || seq == "" {
		b.Fatal("no data-seq on the page")
	}
	return seq
}

func nextSeq(b *testing.B, update string) string {
	b.Helper()
	_, rest, ok := strings.Cut(update, `"seq":`)
	seq, _, _ := strings.Cut(rest, ",")
	if !ok || seq == "" {
		b.Fatalf("no seq in the update %.200s", update)
	}
	return seq
}

// BenchmarkMetricsScrape measures GET /metrics of a queen holding 10,000
// workers (625 hives × 16) over a real SQLite registry; target ≤ 20 ms.
//
//	go test -run '^$' -bench MetricsScrape ./queen/server/
func BenchmarkMetricsScrape(b *testing.B) {
	q := newBenchQueen(b, 625, 16)
	var worst time.Duration
	for b.Loop() {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		start := time.Now()
		q.srv.Handler().ServeHTTP(rec, req)
		worst = max(worst, time.Since(start))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "rbee_queen_workers{") {
			b.Fatalf("metrics: %d", rec.Code)
		}
	}
	b.ReportMetric(ms(worst), "max-ms")
}
