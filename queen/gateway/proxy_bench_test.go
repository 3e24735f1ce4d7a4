package gateway_test

// Gateway overhead against calling the reference worker directly, both on
// loopback in the same run. Run it alone, without -race:
//
//	go test -run '^$' -bench GatewayVsDirect -benchtime 1x ./queen/gateway/

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	pacedModel = "hf:bench/paced"
	benchKey   = "rbk_bench"
	// pace is the paced workers' time per token and before the first
	// one: a model that streams 50 tokens/s, as a GPU serves a small
	// model.
	pace = 20 * time.Millisecond
)

// oneKey accepts the benchmark's one client key.
type oneKey struct{}

func (oneKey) ClientOf(_ context.Context, key string) (string, bool, error) {
	return "bench", key == benchKey, nil
}
func (oneKey) IsAdminToken(string) bool { return false }

// benchFleet is the reference workers of one model.
type benchFleet struct {
	model string
	urls  []string
	pids  []int
}

// BenchmarkGatewayVsDirect reports, side by side in one run: p50 and p99
// of a non-streamed completion and the time to the first byte of a
// stream, direct to a reference worker and through the gateway, at 1 and
// 64 concurrent clients; then the streams per second of 256 concurrent
// streaming clients over 8 workers, direct and through the gateway, and
// the growth of goroutines and heap over a repeated run.
//
// The client, the gateway and the workers share this machine's cores.
// The reference worker answers as fast as it can, so unpaced the proxied
// path costs the CPU of a second HTTP hop and the figures measure CPU
// contention as much as the gateway. The paced runs use workers that
// wait 20 ms before the first token and between tokens (a model's pace),
// which is what the gateway fronts in a fleet. For every run the CPU time
// per request is reported: this process (clients and gateway) and the
// workers, direct and through the gateway; the gateway's own is the
// difference of this process's between the two (its clients do the same
// work either way).
func BenchmarkGatewayVsDirect(b *testing.B) {
	bin := filepath.Join(gobuild.Binaries(b, "", "../../hive-agent/rbee-worker"), "rbee-worker")
	reg := workerregistry.New()
	fast := startBenchFleet(b, bin, reg, benchModel, 8)
	paced := startBenchFleet(b, bin, reg, pacedModel, 8,
		"--token-delay", pace.String(), "--completion-delay", pace.String())
	var dials atomic.Int64
	gwURL := startBenchGateway(b, reg, &dials)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 1024}}
	for b.Loop() {
		for _, c := range []int{1, 64} {
			for _, stream := range []bool{false, true} {
				compare(b, client, fast, gwURL, c, stream, "")
			}
		}
		compare(b, client, paced, gwURL, 64, false, "paced-")
		throughput(b, client, fast, paced, gwURL, &dials)
	}
	b.ReportMetric(float64(dials.Load()), "upstream-dials")
}

// startBenchFleet starts n reference workers of model with the extra flags
// and registers them.
func startBenchFleet(b *testing.B, bin string, reg *workerregistry.Registry, model string, n int, extra ...string) benchFleet {
	f := benchFleet{model: model}
	for i := range n {
		id := "w-" + strings.TrimPrefix(model, "hf:bench/") + strconv.Itoa(i)
		url, pid := startBenchWorker(b, bin, id, model, extra...)
		f.urls, f.pids = append(f.urls, url), append(f.pids, pid)
		w := api.Worker{ID: id, Node: "local", URL: url, ModelRef: model,
			Backend: "cpu", State: api.WorkerIdle, SlotsTotal: 256, StartedUnix: 1, PID: pid}
		if _, err := reg.Register("local", w, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	return f
}

func startBenchWorker(b *testing.B, bin, id, model string, extra ...string) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := append([]string{"--worker-id", id, "--model-ref", model, "--backend", "cpu",
		"--device", "0", "--port", strconv.Itoa(port), "--host", "127.0.0.1", "--slots", "512"}, extra...)
	cmd := exec.Command(bin, args...)
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
				return base, cmd.Process.Pid
			}
		}
	}
	b.Fatalf("worker %s not ready", id)
	return "", 0
}

// startBenchGateway serves a gateway on loopback; dials counts its
// connections to workers.
func startBenchGateway(b *testing.B, reg *workerregistry.Registry, dials *atomic.Int64) string {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	g := gateway.New(gateway.Config{Workers: reg, Keys: oneKey{}, Logger: slog.New(slog.DiscardHandler),
		Settings: gateway.Settings{QueueLength: 1024,
			DialContext: func(ctx context.Context, _, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return dialer.DialContext(ctx, network, addr)
			}}})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go g.Run(ctx)
	srv := httptest.NewUnstartedServer(httpserver.New(g, httpserver.Limits{MaxConnsPerIP: 2048, Logger: slog.New(slog.DiscardHandler)}).Handler)
	// The gateway's goroutines (its connections and those to workers) carry
	// the profile label side=gateway: go tool pprof -tagfocus side=gateway.
	pprof.Do(ctx, pprof.Labels("side", "gateway"), func(context.Context) { srv.Start() })
	b.Cleanup(srv.Close)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if d, err := oneRequest(http.DefaultClient, srv.URL, benchKey, benchModel, false); err == nil && d > 0 {
			return srv.URL
		}
	}
	b.Fatal("gateway never routed")
	return ""
}

// oneRequest sends one completion and returns the time to the whole
// answer, or to its first byte for a stream.
func oneRequest(c *http.Client, base, key, model string, stream bool) (time.Duration, error) {
	body := `{"model":"` + model + `","prompt":"the quick brown fox","max_tokens":8,"stream":` + strconv.FormatBool(stream) + `}`
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

// compare measures c clients direct to the first worker of f and through
// the gateway, and reports the added latency and the CPU per request.
func compare(b *testing.B, client *http.Client, f benchFleet, gwURL string, c int, stream bool, prefix string) {
	var direct, via []time.Duration
	cd := measure(b, f.pids, func() int {
		direct = latencies(b, client, f.urls[:1], "", f.model, c, stream)
		return len(direct)
	})
	cv := measure(b, f.pids, func() int {
		via = latencies(b, client, []string{gwURL}, benchKey, f.model, c, stream)
		return len(via)
	})
	what := "completion"
	if stream {
		what = "stream-ttfb"
	}
	name := prefix + what + "-c" + strconv.Itoa(c)
	b.Logf("%s: direct p50 %v p99 %v; gateway p50 %v p99 %v; added p50 %v p99 %v; %s", name,
		pct(direct, .5), pct(direct, .99), pct(via, .5), pct(via, .99),
		pct(via, .5)-pct(direct, .5), pct(via, .99)-pct(direct, .99), cpuLine(cd, cv))
	b.ReportMetric(us(pct(via, .5)-pct(direct, .5)), name+"-added-p50-µs")
	b.ReportMetric(us(pct(via, .99)-pct(direct, .99)), name+"-added-p99-µs")
	if c > 1 {
		b.ReportMetric(cv.selfPer()-cd.selfPer(), name+"-gateway-cpu-µs/req")
	}
}

// latencies runs c clients of 2000/c requests each (at least 30) and
// returns the sorted durations.
func latencies(b *testing.B, client *http.Client, bases []string, key, model string, c int, stream bool) []time.Duration {
	per := max(2000/c, 30)
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for i := range c {
		wg.Go(func() {
			mine := make([]time.Duration, 0, per)
			for range per {
				d, err := oneRequest(client, bases[i%len(bases)], key, model, stream)
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

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// throughput runs 256 streaming clients direct (client i on worker i%8)
// and through the gateway, unpaced and paced, and reports the ratios
// and the CPU per stream. Then it checks for leaks: the unpaced pair
// again, the goroutines and heap after it against those after the first
// runs. The gateway's pools of idle connections to workers stay (two
// goroutines each) and may grow a little when the repeat spreads its
// streams differently, so goroutines-left-beyond-pool leaves out those of
// connections dialled during the repeat: anything left is a leak.
func throughput(b *testing.B, client *http.Client, fast, paced benchFleet, gwURL string, dials *atomic.Int64) {
	streamPair(b, client, fast, gwURL, "")
	streamPair(b, client, paced, gwURL, "paced-")
	goBefore, heapBefore := settled(client)
	dialsBefore := dials.Load()
	ratio := streamPair(b, client, fast, gwURL, "again-")
	goAfter, heapAfter := settled(client)
	newConns := dials.Load() - dialsBefore
	b.Logf("after the streaming runs, then the unpaced pair again (ratio %.2f): goroutines %d, then %d (the gateway dialled %d more connections to workers, 2 goroutines each while idle in its pool); heap %d KiB, then %d KiB",
		ratio, goBefore, goAfter, newConns, heapBefore>>10, heapAfter>>10)
	b.ReportMetric(float64(goAfter-goBefore), "goroutines-left")
	b.ReportMetric(float64(goAfter-goBefore-2*int(newConns)), "goroutines-left-beyond-pool")
	b.ReportMetric(float64(int64(heapAfter)-int64(heapBefore))/1024, "heap-growth-KiB")
}

// streamPair runs the streaming clients direct to f and through the
// gateway, in three rounds of one second each, alternating so that a
// change of the machine's other load falls on both; it reports the ratio
// and the CPU per stream under prefix, and returns the ratio.
func streamPair(b *testing.B, client *http.Client, f benchFleet, gwURL, prefix string) float64 {
	var cd, cv cpuUse
	for range streamRounds {
		cd.add(measure(b, f.pids, func() int { return streams(b, client, f.urls, "", f.model) }))
		cv.add(measure(b, f.pids, func() int { return streams(b, client, []string{gwURL}, benchKey, f.model) }))
	}
	run := streamRounds * streamRun.Seconds()
	direct, via := float64(cd.requests)/run, float64(cv.requests)/run
	b.Logf("%s256 streaming clients over 8 workers: direct %.0f/s, gateway %.0f/s, ratio %.2f; %s",
		prefix, direct, via, via/direct, cpuLine(cd, cv))
	b.ReportMetric(via/direct, prefix+"stream-throughput-ratio")
	b.ReportMetric(cv.selfPer()-cd.selfPer(), prefix+"stream-gateway-cpu-µs/req")
	b.ReportMetric(cd.workersPer(), prefix+"stream-worker-cpu-µs/req")
	return via / direct
}

// settled closes the clients' idle connections, lets their goroutines end
// and returns the goroutines and the heap after a GC.
func settled(client *http.Client) (goroutines int, heap uint64) {
	client.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapAlloc
}

// Each streaming comparison is streamRounds runs of streamRun each way.
const (
	streamRun    = time.Second
	streamRounds = 3
)

// streams runs 256 streaming clients for streamRun and returns the
// streams they completed.
func streams(b *testing.B, client *http.Client, bases []string, key, model string) int {
	const clients = 256
	var total atomic.Int64
	stop := time.Now().Add(streamRun)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := oneRequest(client, bases[i%len(bases)], key, model, true); err != nil {
					b.Error(err)
					return
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	return int(total.Load())
}

// cpuUse is what a run took of this process (clients, and the gateway
// when it was used) and of the workers: CPU time and read and write
// system calls; and its requests.
type cpuUse struct {
	self, workers  time.Duration
	selfIO, workIO int // read and write system calls
	requests       int
}

// add adds d's counts to c's.
func (c *cpuUse) add(d cpuUse) {
	c.self, c.workers = c.self+d.self, c.workers+d.workers
	c.selfIO, c.workIO, c.requests = c.selfIO+d.selfIO, c.workIO+d.workIO, c.requests+d.requests
}

func (c cpuUse) selfPer() float64    { return us(c.self) / float64(c.requests) }
func (c cpuUse) workersPer() float64 { return us(c.workers) / float64(c.requests) }

// measure runs run, which returns its request count, and returns what it
// took.
func measure(b *testing.B, pids []int, run func() int) cpuUse {
	self0, workers0 := selfCPU(b), workersCPU(b, pids)
	selfIO0, workIO0 := ioCalls(b, os.Getpid()), 0
	for _, pid := range pids {
		workIO0 += ioCalls(b, pid)
	}
	n := run()
	c := cpuUse{self: selfCPU(b) - self0, workers: workersCPU(b, pids) - workers0,
		selfIO: ioCalls(b, os.Getpid()) - selfIO0, workIO: -workIO0, requests: max(n, 1)}
	for _, pid := range pids {
		c.workIO += ioCalls(b, pid)
	}
	return c
}

// cpuLine tells the CPU and the read and write system calls per request
// direct (d) and through the gateway (v).
func cpuLine(d, v cpuUse) string {
	per := func(n int, c cpuUse) string { return strconv.FormatFloat(float64(n)/float64(c.requests), 'f', 1, 64) }
	return "CPU µs/request: direct clients " + strconv.Itoa(int(d.selfPer())) + " workers " + strconv.Itoa(int(d.workersPer())) +
		"; via gateway clients+gateway " + strconv.Itoa(int(v.selfPer())) + " workers " + strconv.Itoa(int(v.workersPer())) +
		"; gateway ≈ " + strconv.Itoa(int(v.selfPer()-d.selfPer())) +
		"; reads+writes/request: direct clients " + per(d.selfIO, d) + " workers " + per(d.workIO, d) +
		", via clients+gateway " + per(v.selfIO, v) + " workers " + per(v.workIO, v)
}

// ioCalls returns the read and write system calls pid made so far
// (syscr and syscw of /proc/PID/io).
func ioCalls(b *testing.B, pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && (k == "syscr" || k == "syscw") {
			x, _ := strconv.Atoi(v)
			n += x
		}
	}
	return n
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// workersCPU sums the user and system time of pids from /proc/PID/stat
// (fields 14 and 15, in clock ticks of 10 ms).
func workersCPU(b *testing.B, pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		utime, _ := strconv.Atoi(f[11]) // f[0] is field 3
		stime, _ := strconv.Atoi(f[12])
		sum += time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return sum
}
