package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/loadgen"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
)

// Shape of the scale benchmark.
const (
	scaleHives   = 10_000
	scaleWorkers = 16
	// scaleConcurrency is the connections the simulated fleet shares.
	scaleConcurrency = 64
	// scaleListEvery is how often the list client asks for a page.
	scaleListEvery = 100 * time.Millisecond
	// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times
	// (100 on every Linux the project runs on).
	clockTicks = 100
)

// BenchmarkScale10k measures a real `queen serve` process holding 10,000
// hives × 16 workers (160,000), the simulated fleet (queen/loadgen) paced
// at one beat per hive per 5 s (2,000 beats/s), with a client listing a
// filtered page of workers ten times a second beside it. It reports the
// queen's CPU (from /proc/<pid>/stat) while the lists do not change
// (cores-steady), while every beat changes one worker's free slots
// (cores-churn), and for the first beats of every hive after a queen
// restart until each sent its whole list again (first-beat-cores: one
// interval of deltas answered need_snapshot, then one of snapshots); the
// peak RSS of the restarted process over all that (rss-MB), and the p99
// of the list page (list-page-p99-ms). At the end the queen must list
// exactly the fleet's workers.
//
// The same run measures the baseline the same way: a fleet of old agents
// (the whole list with every beat, no seq) against a fresh queen process,
// reported as old-*; and, in process, the queen's heap per hive and per
// worker (bytes/hive, bytes/worker).
//
// With RBEE_BASELINE_QUEEN set to a queen binary built from an older
// commit, old agents run against it too, reported as base-*:
//
//	git archive 98dc1b9 | tar -x -C /tmp/base && (cd /tmp/base && go build -o /tmp/queen-base ./queen)
//	RBEE_BASELINE_QUEEN=/tmp/queen-base go test -run '^$' -bench Scale10k -benchtime 1x ./queen/server/
//
// The list page is `?model=<m>&limit=500` when the queen pages its answer
// (a first answer with next_cursor), else `?node=<n>&limit=500` (16
// workers: a queen without pages would answer 40,000 workers per model).
//
//	go test -run '^$' -bench Scale10k -benchtime 1x ./queen/server/
func BenchmarkScale10k(b *testing.B) {
	requireProcStatus(b)
	requireGo(b)
	bin := filepath.Join(gobuild.Binaries(b, "", "../../queen"), "queen")
	dataDir := filepath.Join(shmDir(b), "rbee")
	reg, err := hiveregistry.Open(b.Context(), filepath.Join(dataDir, "beehives.db"))
	if err != nil {
		b.Fatal(err)
	}
	hives := registerFleet(b, reg, "sc", scaleHives)
	if err := reg.Close(); err != nil {
		b.Fatal(err)
	}
	baseBin := os.Getenv("RBEE_BASELINE_QUEEN")
	var now, old, base scaleFigures
	for b.Loop() {
		now = scaleRun(b, bin, dataDir, hives, 0)
		old = scaleRun(b, bin, dataDir, hives, 1)
		if baseBin != "" {
			base = scaleRun(b, baseBin, dataDir, hives, 1)
		}
	}
	b.StopTimer()
	if baseBin != "" {
		b.Logf("old agents, baseline queen %s: %+v", baseBin, base)
		b.ReportMetric(base.steady, "base-cores-steady")
		b.ReportMetric(base.churn, "base-cores-churn")
		b.ReportMetric(base.first, "base-first-beat-cores")
		b.ReportMetric(base.rssMB, "base-rss-MB")
	}
	perHive, perWorker := heapPerHiveAndWorker(b)
	b.Logf("delta agents: %+v", now)
	b.Logf("old agents:   %+v", old)
	b.ReportMetric(now.steady, "cores-steady")
	b.ReportMetric(now.churn, "cores-churn")
	b.ReportMetric(now.first, "first-beat-cores")
	b.ReportMetric(now.rssMB, "rss-MB")
	b.ReportMetric(now.listP99, "list-page-p99-ms")
	b.ReportMetric(old.steady, "old-cores-steady")
	b.ReportMetric(old.churn, "old-cores-churn")
	b.ReportMetric(old.first, "old-first-beat-cores")
	b.ReportMetric(old.rssMB, "old-rss-MB")
	b.ReportMetric(now.steady/old.steady, "steady-ratio")
	b.ReportMetric(now.churn/old.churn, "churn-ratio")
	b.ReportMetric(perHive, "bytes/hive")
	b.ReportMetric(perWorker, "bytes/worker")
}

// scaleFigures is what one scaleRun measured.
type scaleFigures struct {
	steady, churn, first float64 // cores
	rssMB, listP99       float64
}

// scaleRun starts a queen on dataDir, fills it with one unpaced round of
// the fleet (every oldEvery-th hive an old agent: 1 all, 0 none), restarts
// it and measures the first beats, then a steady and a churning interval
// with the list client beside them.
func scaleRun(b *testing.B, bin, dataDir string, hives []loadgen.Hive, oldEvery int) scaleFigures {
	b.Helper()
	q := startQueenProcess(b, bin, dataDir)
	f, err := loadgen.NewFleet(loadgen.FleetConfig{BaseURL: q.url, Hives: hives, WorkersPerHive: scaleWorkers,
		OldEvery: oldEvery, Concurrency: scaleConcurrency, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	scaleRound(b, f, 0, loadgen.Churn{}, "fill")
	scaleRound(b, f, 0, loadgen.Churn{}, "settle") // delta agents: acknowledged, deltas from now on
	q.stop(b)
	q = startQueenProcess(b, bin, dataDir)
	defer q.stop(b)
	f.SetBaseURL(q.url)
	var fig scaleFigures
	pid := q.cmd.Process.Pid
	fig.first = cores(b, pid, func() {
		for i := 0; i < 3 && (i == 0 || !f.Settled()); i++ {
			scaleRound(b, f, benchInterval, loadgen.Churn{}, "first beats after the restart")
		}
	})
	if !f.Settled() {
		b.Fatalf("the fleet did not settle after the restart")
	}
	lists := startLister(b, q.url, q.token, hives)
	fig.steady = cores(b, pid, func() { scaleRound(b, f, benchInterval, loadgen.Churn{}, "steady") })
	fig.churn = cores(b, pid, func() {
		scaleRound(b, f, benchInterval, loadgen.Churn{Share: 1, SlotsOnly: true}, "churn")
	})
	fig.listP99 = ms(lists.stop(b).P99)
	// The peak of the restarted process: its first beats, steady and
	// churn with the list client; before the check's list of everything.
	_, hwm := procMemory(b, pid)
	fig.rssMB = float64(hwm) / (1 << 20)
	for i := 0; !f.Settled(); i++ { // beats turned away with 503 come again
		if i == 3 {
			b.Fatalf("the fleet did not settle in 3 rounds without changes")
		}
		scaleRound(b, f, 0, loadgen.Churn{}, "settle")
	}
	requireTruth(b, f, q)
	return fig
}

// scaleRound runs one round of f, paced over spread, and fails on any
// failure but a busy queen's 503.
func scaleRound(b testing.TB, f *loadgen.Fleet, spread time.Duration, ch loadgen.Churn, what string) loadgen.RoundStats {
	b.Helper()
	rs, err := f.Round(b.Context(), spread, ch)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %v", what, rs)
	if rs.Errors > rs.Busy {
		b.Fatalf("%s: %v; first error: %v", what, rs, rs.FirstError)
	}
	return rs
}

// requireTruth fails unless the queen lists exactly the fleet's workers.
func requireTruth(b *testing.B, f *loadgen.Fleet, q *queenProcess) {
	b.Helper()
	listed, err := loadgen.ListWorkers(b.Context(), q.url, q.token, "")
	if err != nil {
		b.Fatal(err)
	}
	if diff := loadgen.Diff(f.Truth(), listed, 5); len(diff) > 0 {
		b.Fatalf("the queen does not list the fleet's workers: %v", diff)
	}
}

// cores runs fn and returns the CPU the process pid used meanwhile, in
// cores (CPU seconds per second of wall time).
func cores(b *testing.B, pid int, fn func()) float64 {
	b.Helper()
	c0, t0 := cpuSeconds(b, pid), time.Now()
	fn()
	return (cpuSeconds(b, pid) - c0) / time.Since(t0).Seconds()
}

// cpuSeconds returns the user and system CPU time of pid so far.
func cpuSeconds(b *testing.B, pid int) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command (which may hold spaces) start at state,
	// field 3; utime and stime are fields 14 and 15.
	rest := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, err1 := strconv.ParseFloat(rest[11], 64)
	stime, err2 := strconv.ParseFloat(rest[12], 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parse /proc/%d/stat: %s", pid, data)
	}
	return (utime + stime) / clockTicks
}

// lister asks for a filtered page of workers every scaleListEvery until
// stopped.
type lister struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	lat    []time.Duration
	err    error
}

// startLister starts a lister against the queen at base: pages of one
// model when the queen pages, else of one node.
func startLister(b *testing.B, base, adminToken string, hives []loadgen.Hive) *lister {
	b.Helper()
	query := "model=" + "hf%3AQwen%2FQwen2.5-7B-Instruct-GGUF%3Aq4_k_m" + "&limit=500"
	page, err := loadgen.ListPage(b.Context(), base, adminToken, query)
	if err != nil || page.NextCursor == "" {
		query = "node=" + hives[0].Name + "&limit=500"
		b.Logf("the queen does not page its lists: the list client asks for one node's workers (%s)", query)
	} else {
		b.Logf("the list client asks for pages of 500 of one model (%s)", query)
	}
	ctx, cancel := context.WithCancel(b.Context())
	l := &lister{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(scaleListEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			q := query
			if strings.HasPrefix(q, "node=") {
				q = "node=" + hives[i%len(hives)].Name + "&limit=500"
			}
			began := time.Now()
			if _, err := loadgen.ListPage(ctx, base, adminToken, q); err != nil && ctx.Err() == nil {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
			}
			l.mu.Lock()
			l.lat = append(l.lat, time.Since(began))
			l.mu.Unlock()
		}
	}()
	return l
}

// stop ends the lister and returns its latencies' stats.
func (l *lister) stop(b *testing.B) loadgen.Stats {
	b.Helper()
	l.cancel()
	<-l.done
	if l.err != nil {
		b.Fatalf("list: %v", l.err)
	}
	slices.Sort(l.lat)
	st := loadgen.Merge(loadgen.Stats{Latencies: l.lat, Requests: len(l.lat)})
	b.Logf("list pages: %v", st)
	return st
}

// heapPerHiveAndWorker measures, in process, the heap a queen keeps per
// hive (10,000 hives without workers) and per worker (10,000 × 16), after
// one beat of every hive from old agents (which keep nothing between
// beats, unlike the delta agents' composers, so the heap is the queen's).
func heapPerHiveAndWorker(b *testing.B) (perHive, perWorker float64) {
	b.Helper()
	reg := openFleetRegistry(b)
	hives := registerFleet(b, reg, "mem", scaleHives)
	withWorkers := heapAfterBeats(b, reg, hives, scaleWorkers)
	empty := heapAfterBeats(b, reg, hives, 0)
	perHive = float64(empty) / scaleHives
	perWorker = float64(withWorkers-empty) / (scaleHives * scaleWorkers)
	b.Logf("queen heap after one beat of %d hives: %d MB with %d workers each, %d MB without",
		scaleHives, withWorkers>>20, scaleWorkers, empty>>20)
	return perHive, perWorker
}

// heapAfterBeats returns how much the live heap grew with a fresh queen
// that took one beat of every hive with workers workers each.
func heapAfterBeats(b *testing.B, reg *hiveregistry.Registry, hives []loadgen.Hive, workers int) uint64 {
	b.Helper()
	f, err := loadgen.NewFleet(loadgen.FleetConfig{BaseURL: "http://127.0.0.1:1", Hives: hives,
		WorkersPerHive: workers, OldEvery: 1, Concurrency: scaleConcurrency})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	before := liveHeap()
	srv := server.New(server.Config{Registry: reg, Token: token, Logger: slog.New(slog.DiscardHandler),
		HeartbeatInterval: benchInterval, StaleAfter: time.Hour})
	ts := httptest.NewServer(srv.Handler())
	f.SetBaseURL(ts.URL)
	scaleRound(b, f, 0, loadgen.Churn{}, fmt.Sprintf("in-process beats, %d workers each", workers))
	f.Close()
	ts.CloseClientConnections()
	after := liveHeap()
	ts.Close()
	runtime.KeepAlive(srv)
	return after - min(before, after)
}

// liveHeap returns the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// shmDir returns a fresh directory on tmpfs (/dev/shm) when there is one,
// else in b.TempDir(): the hive registry's synchronous commits of 10,000
// registrations would each wait for the disk.
func shmDir(b *testing.B) string {
	b.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "rbee-scale-")
	if err != nil {
		return b.TempDir()
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
