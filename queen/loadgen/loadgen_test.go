package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestRunSendsEveryHiveItsHeartbeat(t *testing.T) {
	q := startQueen(t)
	hives := testHives(3)
	st, err := Run(t.Context(), Config{BaseURL: q.srv.URL, Hives: hives, WorkersPerHive: 16, Concurrency: 8, Count: 200})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Requests != 200 || st.Errors != 0 || st.FirstError != nil {
		t.Fatalf("stats %v (first error %v), want 200 requests, no errors", st, st.FirstError)
	}
	if st.PerSecond <= 0 || st.P50 <= 0 || st.P99 < st.P50 || st.Max < st.P99 {
		t.Errorf("stats %v: rate and percentiles out of order", st)
	}
	got := q.beatsByHive()
	for i, h := range hives {
		beats := got[h.Name]
		// Round-robin: 200 requests over 3 hives is 67, 67, 66.
		if n := len(beats); n < 66 || n > 67 {
			t.Errorf("hive %s got %d heartbeats, want 66 or 67", h.Name, n)
		}
		want := Heartbeat(i, h, 16)
		for _, b := range beats {
			if b.auth != "Bearer "+h.Token || b.contentType != "application/json" {
				t.Fatalf("hive %s: Authorization %q, Content-Type %q", h.Name, b.auth, b.contentType)
			}
			if !reflect.DeepEqual(b.body, want) {
				t.Fatalf("hive %s: body\n got %+v\nwant %+v", h.Name, b.body, want)
			}
		}
	}
}

func TestRunChurnAlternatesBodies(t *testing.T) {
	q := startQueen(t)
	hives := testHives(2)
	// One request at a time keeps each hive's beats in order.
	st, err := Run(t.Context(), Config{BaseURL: q.srv.URL, Hives: hives, WorkersPerHive: 3, Count: 8, Churn: true})
	if err != nil || st.Errors != 0 {
		t.Fatalf("Run: %v, %v", st, err)
	}
	got := q.beatsByHive()
	for i, h := range hives {
		steady := Heartbeat(i, h, 3)
		changed := Heartbeat(i, h, 3)
		changed.Workers[0].SlotsAvailable--
		beats := got[h.Name]
		if len(beats) != 4 {
			t.Fatalf("hive %s got %d heartbeats, want 4", h.Name, len(beats))
		}
		for n, b := range beats {
			want := steady
			if n%2 == 1 {
				want = changed
			}
			if !reflect.DeepEqual(b.body, want) {
				t.Errorf("hive %s, beat %d:\n got %+v\nwant %+v", h.Name, n, b.body, want)
			}
		}
		if err := api.ValidateWorker(changed.Workers[0]); err != nil {
			t.Errorf("the changed worker is not valid: %v", err)
		}
	}
}

func TestRunForDuration(t *testing.T) {
	q := startQueen(t)
	const d = 300 * time.Millisecond
	st, err := Run(t.Context(), Config{BaseURL: q.srv.URL + "/", Hives: testHives(5), WorkersPerHive: 2, Concurrency: 4, Duration: d})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Duration < d || st.Duration > d+2*time.Second {
		t.Errorf("run took %v, want a little over %v", st.Duration, d)
	}
	if st.Requests == 0 || st.Errors != 0 || st.Requests != q.count() {
		t.Errorf("stats %v; the queen counted %d", st, q.count())
	}
	if want := float64(st.Requests) / st.Duration.Seconds(); !near(st.PerSecond, want) {
		t.Errorf("PerSecond %.1f, want %.1f", st.PerSecond, want)
	}
}

func TestRunReusesConnections(t *testing.T) {
	q := startQueen(t)
	const conc = 4
	st, err := Run(t.Context(), Config{BaseURL: q.srv.URL, Hives: testHives(10), WorkersPerHive: 16, Concurrency: conc, Count: 400})
	if err != nil || st.Errors != 0 {
		t.Fatalf("Run: %v, %v", st, err)
	}
	// A request may dial while a finished one is still handing its
	// connection back, so allow a few more than conc, but not one per
	// request.
	n := q.conns.Load()
	t.Logf("%d connections for %d requests at concurrency %d", n, st.Requests, conc)
	if n > 2*conc {
		t.Errorf("the queen saw %d connections for 400 requests at concurrency %d, want at most %d", n, conc, 2*conc)
	}
}

func TestRunCountsErrors(t *testing.T) {
	t.Run("non-2xx", func(t *testing.T) {
		q := startQueen(t)
		q.refuse = "hive-001"
		st, err := Run(t.Context(), Config{BaseURL: q.srv.URL, Hives: testHives(2), WorkersPerHive: 1, Concurrency: 2, Count: 10})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st.Requests != 10 || st.Errors != 5 {
			t.Errorf("stats %v, want 10 requests, 5 errors (every other hive is refused)", st)
		}
		if st.FirstError == nil || !strings.Contains(st.FirstError.Error(), "401") || !strings.Contains(st.FirstError.Error(), "UNAUTHORIZED") {
			t.Errorf("first error %v, want the 401 and its body", st.FirstError)
		}
		if want := 5 / st.Duration.Seconds(); !near(st.PerSecond, want) {
			t.Errorf("PerSecond %.1f, want %.1f (successes only)", st.PerSecond, want)
		}
	})
	t.Run("transport", func(t *testing.T) {
		st, err := Run(t.Context(), Config{BaseURL: "http://" + closedAddr(t), Hives: testHives(1), Count: 3})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st.Requests != 3 || st.Errors != 3 || st.PerSecond != 0 {
			t.Errorf("stats %v, want 3 requests, 3 errors, 0/s", st)
		}
		if _, ok := errors.AsType[*net.OpError](st.FirstError); !ok {
			t.Errorf("first error %v, want a dial error", st.FirstError)
		}
	})
}

func TestRunStopsWithContext(t *testing.T) {
	q := startQueen(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	st, err := Run(ctx, Config{BaseURL: q.srv.URL, Hives: testHives(1), Concurrency: 2, Duration: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run returned %v, want the context's error", err)
	}
	if took := time.Since(start); took > 5*time.Second || st.Requests == 0 {
		t.Errorf("Run took %v with stats %v, want it to stop soon after the context", took, st)
	}
}

func TestRunRefusesConfig(t *testing.T) {
	hives := testHives(1)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no base URL", cfg: Config{Hives: hives, Count: 1}, want: "base URL"},
		{name: "base URL without scheme", cfg: Config{BaseURL: "127.0.0.1:7833", Hives: hives, Count: 1}, want: "http://"},
		{name: "no hives", cfg: Config{BaseURL: "http://127.0.0.1:7833", Count: 1}, want: "no hives"},
		{name: "no end", cfg: Config{BaseURL: "http://127.0.0.1:7833", Hives: hives}, want: "neither Duration nor Count"},
		{name: "negative workers", cfg: Config{BaseURL: "http://127.0.0.1:7833", Hives: hives, Count: 1, WorkersPerHive: -1}, want: "negative"},
		{name: "churn without workers", cfg: Config{BaseURL: "http://127.0.0.1:7833", Hives: hives, Count: 1, Churn: true}, want: "WorkersPerHive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(t.Context(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestHeartbeatIsValidAndIDsAreUnique(t *testing.T) {
	seen := map[string]string{}
	for i, h := range testHives(1000) {
		req := Heartbeat(i, h, 16)
		if len(req.Workers) != 16 || req.Capabilities[0] != api.BackendCPU {
			t.Fatalf("hive %s: %d workers, capabilities %v", h.Name, len(req.Workers), req.Capabilities)
		}
		for _, w := range req.Workers {
			if err := api.ValidateWorker(w); err != nil {
				t.Fatalf("hive %s: worker %+v: %v", h.Name, w, err)
			}
			if w.Node != h.Name || w.State != api.WorkerIdle || !slices.Contains(req.Capabilities, w.Capability()) {
				t.Fatalf("hive %s: worker %+v: wrong node, state or capability", h.Name, w)
			}
			if other, dup := seen[w.ID]; dup {
				t.Fatalf("worker id %s of %s is also on %s", w.ID, h.Name, other)
			}
			seen[w.ID] = h.Name
		}
	}
}

func TestMerge(t *testing.T) {
	ms := time.Millisecond
	refused := errors.New("401 Unauthorized")
	a := finish(Stats{Requests: 2, Errors: 1, FirstError: refused, Duration: time.Second}, []time.Duration{3 * ms, 1 * ms})
	b := finish(Stats{Requests: 2, Duration: time.Second}, []time.Duration{4 * ms, 2 * ms})
	got := Merge(a, b)
	want := Stats{Requests: 4, Errors: 1, FirstError: refused, Duration: 2 * time.Second, PerSecond: 1.5,
		P50: 2 * ms, P99: 4 * ms, Max: 4 * ms, Latencies: []time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge:\n got %+v\nwant %+v", got, want)
	}
	if st := Merge(); st.Requests != 0 || st.PerSecond != 0 || st.P99 != 0 {
		t.Errorf("Merge() = %+v, want zero figures", st)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{name: "none", sorted: nil, p: 50, want: 0},
		{name: "one", sorted: ms(7), p: 99, want: 7 * time.Millisecond},
		{name: "median of four is the second", sorted: ms(1, 2, 3, 4), p: 50, want: 2 * time.Millisecond},
		{name: "p99 of 100", sorted: ms(hundred...), p: 99, want: 99 * time.Millisecond},
		{name: "p99 of 101 is the 100th", sorted: ms(append(hundred, 500)...), p: 99, want: 100 * time.Millisecond},
		{name: "p100 is the last", sorted: ms(append(hundred, 500)...), p: 100, want: 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(p%d) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

// testQueen answers heartbeats like the queen, records them, and counts
// connections.
type testQueen struct {
	srv    *httptest.Server
	refuse string // a hive answered 401
	conns  atomic.Int64
	mu     sync.Mutex
	beats  map[string][]received
}

type received struct {
	auth, contentType string
	body              api.HeartbeatRequest
}

func startQueen(t *testing.T) *testQueen {
	t.Helper()
	q := &testQueen{beats: map[string][]received{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/hives/{name}/heartbeat", q.heartbeat)
	q.srv = httptest.NewUnstartedServer(mux)
	q.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			q.conns.Add(1)
		}
	}
	q.srv.Start()
	t.Cleanup(q.srv.Close)
	return q
}

func (q *testQueen) heartbeat(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rec := received{auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec.body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q.mu.Lock()
	q.beats[name] = append(q.beats[name], rec)
	q.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if name == q.refuse {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"code":"UNAUTHORIZED","message":"missing or unknown hive token"}}`)
		return
	}
	_, _ = io.WriteString(w, `{"interval_ms":5000}`+"\n")
}

func (q *testQueen) beatsByHive() map[string][]received {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.beats
}

func (q *testQueen) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, b := range q.beats {
		n += len(b)
	}
	return n
}

func testHives(n int) []Hive {
	hives := make([]Hive, n)
	for i := range hives {
		hives[i] = Hive{Name: fmt.Sprintf("hive-%03d", i), Token: fmt.Sprintf("hvt_token_%03d", i)}
	}
	return hives
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// near reports whether got is within 1% of want.
func near(got, want float64) bool {
	return got >= want*0.99 && got <= want*1.01
}
