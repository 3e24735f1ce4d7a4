package gateway_test

// Gateway overhead against calling the reference worker directly, both on
// loopback in the same run. Run it alone, without -race:
//
//	go test -run '^$' -bench GatewayVsDirect -benchtime 1x ./queen/gateway/

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/gateway"
	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/httpserver"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
)

const (
	benchModel = "hf:bench/tiny"
	benchKey   = "rbk_bench"
)

// oneKey accepts the benchmark's one client key.
type oneKey struct{}

func (oneKey) ClientOf(_ context.Context, key string) (string, bool, error) {
	return "bench", key == benchKey, nil
}
func (oneKey) IsAdminToken(string) bool { return false }

// BenchmarkGatewayVsDirect reports, side by side in one run: p50 and p99
// of a non-streamed completion and the time to the first byte of a
// stream, direct to a reference worker and through the gateway, at 1 and
// 64 concurrent clients; then the streams per second of 256 concurrent
// streaming clients over 8 workers, direct and through the gateway, and
// the goroutines and heap after the run.
func BenchmarkGatewayVsDirect(b *testing.B) {
	bin := filepath.Join(gobuild.Binaries(b, "", "../../hive-agent/rbee-worker"), "rbee-worker")
	workers := make([]string, 8)
	reg := workerregistry.New()
	for i := range workers {
		workers[i] = startBenchWorker(b, bin, i)
		w := api.Worker{ID: "w-bench" + strconv.Itoa(i), Node: "local", URL: workers[i], ModelRef: benchModel,
			Backend: "cpu", State: api.WorkerIdle, SlotsTotal: 256, StartedUnix: 1}
		if _, err := reg.Register("local", w, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	gwURL := startBenchGateway(b, reg)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 1024}}
	for b.Loop() {
		for _, c := range []int{1, 64} {
			for _, stream := range []bool{false, true} {
				direct := latencies(b, client, []string{workers[0]}, "", c, stream)
				via := latencies(b, client, []string{gwURL}, benchKey, c, stream)
				report(b, c, stream, direct, via)
			}
		}
		throughput(b, client, workers, gwURL)
	}
}

func startBenchWorker(b *testing.B, bin string, i int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--worker-id", "w-bench"+strconv.Itoa(i), "--model-ref", benchModel, "--backend", "cpu",
		"--device", "0", "--port", strconv.Itoa(port), "--host", "127.0.0.1", "--slots", "512")
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
	}
	b.Fatalf("worker %d not ready", i)
	return ""
}

func startBenchGateway(b *testing.B, reg *workerregistry.Registry) string {
	g := gateway.New(gateway.Config{Workers: reg, Keys: oneKey{}, Logger: slog.New(slog.DiscardHandler),
		Settings: gateway.Settings{QueueLength: 1024}})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go g.Run(ctx)
	srv := httptest.NewServer(httpserver.New(g, httpserver.Limits{MaxConnsPerIP: 2048, Logger: slog.New(slog.DiscardHandler)}).Handler)
	b.Cleanup(srv.Close)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if d, err := oneRequest(http.DefaultClient, srv.URL, benchKey, false); err == nil && d > 0 {
			return srv.URL
		}
	}
	b.Fatal("gateway never routed")
	return ""
}

// oneRequest sends one completion and returns the time to the whole
// answer, or to its first byte for a stream.
func oneRequest(c *http.Client, base, key string, stream bool) (time.Duration, error) {
	body := `{"model":"` + benchModel + `","prompt":"the quick brown fox","max_tokens":8,"stream":` + strconv.FormatBool(stream) + `}`
	req, _ := http.NewRequest("POST", base+"/v1/completions", strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var took time.Duration
	if stream {
		if _, err := bufio.NewReader(resp.Body).ReadByte(); err != nil {
			return 0, err
		}
		took = time.Since(start)
		_, _ = io.Copy(io.Discard, resp.Body)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		took = time.Since(start)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, io.ErrUnexpectedEOF
	}
	return took, nil
}

// latencies runs c clients of 400/c… requests each (2,000 in all, at least
// 200 per client count) and returns the sorted durations.
func latencies(b *testing.B, client *http.Client, bases []string, key string, c int, stream bool) []time.Duration {
	per := max(2000/c, 30)
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for i := range c {
		wg.Go(func() {
			mine := make([]time.Duration, 0, per)
			for range per {
				d, err := oneRequest(client, bases[i%len(bases)], key, stream)
				if err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, d)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	return all
}

func pct(d []time.Duration, p float64) time.Duration { return d[int(float64(len(d)-1)*p)] }

func report(b *testing.B, c int, stream bool, direct, via []time.Duration) {
	what := "completion"
	if stream {
		what = "stream-ttfb"
	}
	name := what + "-c" + strconv.Itoa(c)
	b.Logf("%s: direct p50 %v p99 %v; gateway p50 %v p99 %v; added p50 %v p99 %v", name,
		pct(direct, .5), pct(direct, .99), pct(via, .5), pct(via, .99),
		pct(via, .5)-pct(direct, .5), pct(via, .99)-pct(direct, .99))
	b.ReportMetric(us(pct(via, .5)-pct(direct, .5)), name+"-added-p50-µs")
	b.ReportMetric(us(pct(via, .99)-pct(direct, .99)), name+"-added-p99-µs")
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// throughput runs 256 streaming clients for 3 s direct (client i on worker
// i%8) and through the gateway, and reports the ratio and what is left
// after the run.
func throughput(b *testing.B, client *http.Client, workers []string, gwURL string) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goBefore := runtime.NumGoroutine()
	direct := streamsPerSecond(b, client, workers, "")
	via := streamsPerSecond(b, client, []string{gwURL}, benchKey)
	client.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	goAfter := runtime.NumGoroutine()
	b.Logf("256 streaming clients over 8 workers: direct %.0f/s, gateway %.0f/s, ratio %.2f; goroutines %d before, %d after; heap %d KiB before, %d KiB after",
		direct, via, via/direct, goBefore, goAfter, before.HeapAlloc>>10, after.HeapAlloc>>10)
	b.ReportMetric(via/direct, "stream-throughput-ratio")
	b.ReportMetric(float64(goAfter-goBefore), "goroutines-left")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1024, "heap-growth-KiB")
}

func streamsPerSecond(b *testing.B, client *http.Client, bases []string, key string) float64 {
	const clients, runFor = 256, 3 * time.Second
	var mu sync.Mutex
	total := 0
	stop := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			n := 0
			for time.Now().Before(stop) {
				if _, err := oneRequest(client, bases[i%len(bases)], key, true); err != nil {
					b.Error(err)
					return
				}
				n++
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return float64(total) / runFor.Seconds()
}
