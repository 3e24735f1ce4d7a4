package server_test

// Load benchmarks of the queen's heartbeat path. The figures go in the
// release note; run each one alone, without -race:
//
//	go test -run '^$' -bench HeartbeatIngest -benchtime 1x ./queen/server/
//	go test -run '^$' -bench QueenRSS -benchtime 1x ./queen/server/

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/loadgen"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
	"github.com/rbee-fleet/rbee/testenv/procmem"
	"github.com/rbee-fleet/rbee/testenv/require"
)

// Shape of the ingest load.
const (
	ingestHives       = 1000
	ingestWorkers     = 16
	ingestConcurrency = 64
	ingestFor         = 3 * time.Second
	// ingestRoundCount is how many slices ingestFor is cut into.
	ingestRoundCount = 6
	// benchInterval is the heartbeat interval the queen answers with.
	benchInterval = 5 * time.Second
)

// BenchmarkHeartbeatIngest measures the heartbeats per second the queen
// ingests from 1,000 hives × 16 workers (tokens in a real SQLite registry,
// a real HTTP server on loopback, 64 requests in flight for 3 s), and the
// same load against a handler that only reads the body and answers what
// the queen answers, in alternating 0.5 s rounds. The ratio is the share
// of the bare HTTP stack's rate that the queen keeps (target ≥ 0.7).
//
// It runs twice: as agents beat when their workers did not change (each
// hive sends the same body every time), and with churn (every beat of a
// hive differs from its last). Before the timed load every hive beats once
// (the first beat reads the registry and creates the node's workers), and
// after it the queen must list exactly 16,000 workers.
//
//	go test -run '^$' -bench HeartbeatIngest -benchtime 1x ./queen/server/
func BenchmarkHeartbeatIngest(b *testing.B) {
	reg := openBenchRegistry(b, filepath.Join(b.TempDir(), "beehives.db"))
	hives := registerFleet(b, reg, "hb", ingestHives)
	srv := server.New(server.Config{Registry: reg, Token: token, Logger: slog.New(slog.DiscardHandler),
		HeartbeatInterval: benchInterval, StaleAfter: 30 * time.Second})
	go srv.Run(b.Context())
	queen := httptest.NewServer(srv.Handler())
	b.Cleanup(queen.Close)
	noop := httptest.NewServer(noopHeartbeat(b))
	b.Cleanup(noop.Close)

	first := runLoad(b, loadgen.Config{BaseURL: queen.URL, Hives: hives, WorkersPerHive: ingestWorkers,
		Concurrency: ingestConcurrency, Count: len(hives)})
	requireWorkers(b, queen.URL, token, ingestHives*ingestWorkers)
	runLoad(b, loadgen.Config{BaseURL: noop.URL, Hives: hives, WorkersPerHive: ingestWorkers,
		Concurrency: ingestConcurrency, Count: len(hives)}) // the same warm-up: connections, pages

	var q, n, cq, cn loadgen.Stats
	for b.Loop() {
		q, n = ingestRounds(b, hives, queen.URL, noop.URL, false)
		cq, cn = ingestRounds(b, hives, queen.URL, noop.URL, true)
	}
	b.StopTimer()
	requireWorkers(b, queen.URL, token, ingestHives*ingestWorkers)
	b.Logf("first beat of every hive: %v", first)
	b.Logf("queen:         %v", q)
	b.Logf("no-op:         %v", n)
	b.Logf("queen (churn): %v", cq)
	b.Logf("no-op (churn): %v", cn)
	b.ReportMetric(first.PerSecond, "first-beats/s")
	b.ReportMetric(q.PerSecond, "queen-beats/s")
	b.ReportMetric(n.PerSecond, "noop-beats/s")
	b.ReportMetric(q.PerSecond/n.PerSecond, "ratio")
	b.ReportMetric(ms(q.P50), "queen-p50-ms")
	b.ReportMetric(ms(q.P99), "queen-p99-ms")
	b.ReportMetric(cq.PerSecond, "churn-queen-beats/s")
	b.ReportMetric(cq.PerSecond/cn.PerSecond, "churn-ratio")
	b.ReportMetric(ms(cq.P99), "churn-queen-p99-ms")
}

// ingestRounds loads the queen and the no-op server in turn, ingestRounds
// times each for a share of ingestFor, alternating which goes first, so
// that both see the same background load of a shared machine; it returns
// each one's merged stats. With churn every beat of a hive differs from
// its last.
func ingestRounds(b *testing.B, hives []loadgen.Hive, queenURL, noopURL string, churn bool) (queen, noop loadgen.Stats) {
	b.Helper()
	cfg := loadgen.Config{Hives: hives, WorkersPerHive: ingestWorkers, Concurrency: ingestConcurrency,
		Duration: ingestFor / ingestRoundCount, Churn: churn}
	var qs, ns []loadgen.Stats
	for i := range ingestRoundCount {
		urls := []string{queenURL, noopURL}
		if i%2 == 1 {
			urls[0], urls[1] = urls[1], urls[0]
		}
		for _, u := range urls {
			cfg.BaseURL = u
			if st := runLoad(b, cfg); u == queenURL {
				qs = append(qs, st)
			} else {
				ns = append(ns, st)
			}
		}
	}
	return loadgen.Merge(qs...), loadgen.Merge(ns...)
}

// BenchmarkQueenRSS measures the resident memory of a real `queen serve`
// process holding 10,000 workers (625 hives × 16, heartbeating at 64 in
// flight for 2 s), after listing them; target ≤ 100 MB. It reports VmRSS
// and the peak, VmHWM, and for scale VmRSS of the idle queen before the
// first heartbeat.
//
//	go test -run '^$' -bench QueenRSS -benchtime 1x ./queen/server/
func BenchmarkQueenRSS(b *testing.B) {
	requireProcStatus(b)
	requireGo(b)
	bin := filepath.Join(gobuild.Binaries(b, "", "../../queen"), "queen")
	const nodes, workers = 625, 16
	var idle, rss, hwm int64
	for b.Loop() {
		idle, rss, hwm = queenRSS(b, bin, nodes, workers)
	}
	b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
	b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MB")
	b.ReportMetric(float64(idle)/(1<<20), "idle-rss-MB")
}

// queenRSS starts a queen on a registry of nodes hives, drives them until
// it lists nodes×workers workers and returns its VmRSS before the load,
// and VmRSS and VmHWM after, in bytes.
func queenRSS(b *testing.B, bin string, nodes, workers int) (idle, rss, hwm int64) {
	b.Helper()
	dataDir := filepath.Join(b.TempDir(), "rbee")
	// The queen owns its database: fill it before the queen opens it.
	reg, err := hiveregistry.Open(b.Context(), filepath.Join(dataDir, "beehives.db"))
	if err != nil {
		b.Fatal(err)
	}
	hives := registerFleet(b, reg, "rss", nodes)
	if err := reg.Close(); err != nil {
		b.Fatal(err)
	}
	q := startQueenProcess(b, bin, dataDir)
	defer q.stop(b)
	idle, _ = procMemory(b, q.cmd.Process.Pid)
	want := nodes * workers
	deadline := time.Now().Add(time.Minute)
	for {
		st := runLoad(b, loadgen.Config{BaseURL: q.url, Hives: hives, WorkersPerHive: workers,
			Concurrency: ingestConcurrency, Duration: 2 * time.Second})
		got := countWorkers(b, q.url, q.token)
		b.Logf("load: %v; queen lists %d workers", st, got)
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("queen lists %d workers after a minute of heartbeats, want %d:\n%s", got, want, q.stderr.String())
		}
	}
	rss, hwm = procMemory(b, q.cmd.Process.Pid)
	return idle, rss, hwm
}

// queenProcess is a running `queen serve`.
type queenProcess struct {
	cmd    *exec.Cmd
	url    string
	token  string
	stderr *lockedBuffer
	exited chan struct{}
}

// startQueenProcess runs `queen serve` on a free loopback port with
// dataDir and waits until it answers health.
func startQueenProcess(b *testing.B, bin, dataDir string) *queenProcess {
	b.Helper()
	addr := freeLoopback(b)
	q := &queenProcess{url: "http://" + addr, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	q.cmd = exec.Command(bin, "serve", "--listen", addr, "--data-dir", dataDir,
		"--heartbeat-interval", benchInterval.String())
	q.cmd.Stdout, q.cmd.Stderr = q.stderr, q.stderr
	if err := q.cmd.Start(); err != nil {
		b.Fatalf("start queen: %v", err)
	}
	go func() { _ = q.cmd.Wait(); close(q.exited) }()
	b.Cleanup(func() { q.stop(b) })
	waitHealthy(b, q.url, q.exited, q.stderr)
	data, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		b.Fatalf("read the queen's admin token: %v", err)
	}
	q.token = strings.TrimSpace(string(data))
	return q
}

// stop ends the queen with SIGTERM, then SIGKILL after 10 s; it may be
// called more than once.
func (q *queenProcess) stop(b *testing.B) {
	b.Helper()
	stopProcess(b, q.cmd, q.exited, 10*time.Second)
}

// stopProcess sends SIGTERM and waits up to grace for an exit with code
// 0, else kills the process. A process that is gone already is left be,
// so that a deferred stop and a cleanup may both call it.
func stopProcess(b *testing.B, cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) {
	b.Helper()
	select {
	case <-exited:
		return
	default:
	}
	name := filepath.Base(cmd.Path)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			b.Errorf("%s exited %d after SIGTERM, want 0", name, code)
		}
	case <-time.After(grace):
		b.Errorf("%s still running %v after SIGTERM; killing it", name, grace)
		_ = cmd.Process.Kill()
		<-exited
	}
}

// noopHeartbeat reads and discards the body and answers what the queen
// answers to a heartbeat, byte for byte.
func noopHeartbeat(b *testing.B) http.Handler {
	b.Helper()
	answer, err := json.Marshal(api.HeartbeatResponse{IntervalMS: benchInterval.Milliseconds()})
	if err != nil {
		b.Fatal(err)
	}
	answer = append(answer, '\n') // json.Encoder's newline
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(answer)
	})
}

// openBenchRegistry opens a registry at path and closes it at the end.
func openBenchRegistry(b *testing.B, path string) *hiveregistry.Registry {
	b.Helper()
	reg, err := hiveregistry.Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	return reg
}

// runLoad runs cfg and fails the benchmark on any failed request.
func runLoad(b *testing.B, cfg loadgen.Config) loadgen.Stats {
	b.Helper()
	st, err := loadgen.Run(b.Context(), cfg)
	if err != nil {
		b.Fatalf("load %s: %v", cfg.BaseURL, err)
	}
	if st.Errors > 0 {
		b.Fatalf("load %s: %v; first error: %v", cfg.BaseURL, st, st.FirstError)
	}
	return st
}

// requireWorkers fails unless the queen lists exactly want workers.
func requireWorkers(b *testing.B, baseURL, adminToken string, want int) {
	b.Helper()
	if got := countWorkers(b, baseURL, adminToken); got != want {
		b.Fatalf("the queen lists %d workers, want %d", got, want)
	}
}

// countWorkers returns how many workers GET /v1/workers/list shows,
// following its cursors page by page.
func countWorkers(b *testing.B, baseURL, adminToken string) int {
	b.Helper()
	n, cursor := 0, ""
	for {
		var page api.WorkerPage
		getJSON(b, baseURL+"/v1/workers/list?limit=5000&cursor="+cursor, adminToken, &page) // cursors are base64url
		n += len(page.Workers)
		if page.NextCursor == "" {
			return n
		}
		cursor = page.NextCursor
	}
}

// getJSON GETs url with a bearer token and decodes a 200 answer into out.
func getJSON(b *testing.B, url, bearer string, out any) {
	b.Helper()
	req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s: %s", url, resp.Status, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		b.Fatalf("GET %s: decode: %v", url, err)
	}
}

// waitHealthy polls GET <base>/v1/health until it answers 200.
func waitHealthy(b *testing.B, base string, exited <-chan struct{}, stderr *lockedBuffer) {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 15*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/health", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			b.Fatalf("%s exited before it answered health:\n%s", base, stderr.String())
		case <-ctx.Done():
			b.Fatalf("%s not healthy within 15 s:\n%s", base, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// procMemory returns VmRSS and VmHWM of pid in bytes.
func procMemory(b *testing.B, pid int) (rss, hwm int64) {
	b.Helper()
	rss, hwm, err := procmem.Of(pid)
	if err != nil {
		b.Fatal(err)
	}
	return rss, hwm
}

// freeLoopback returns a loopback address that was free a moment ago.
func freeLoopback(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func requireProcStatus(b *testing.B) {
	b.Helper()
	if err := procmem.Available(); err != nil {
		require.Missing(b, "/proc of Linux ("+err.Error()+")", "run this benchmark on Linux")
	}
}

func requireGo(b *testing.B) {
	b.Helper()
	require.Binary(b, "go", "install Go 1.26 and put it on PATH (scripts/install-deps.sh says how)")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
