package server_test

// Ready-callback latency: from a worker's POST /v1/workers/ready at its
// real hive agent until the in-process queen lists it idle. Run it alone,
// without -race:
//
//	go test -run '^$' -bench ReadyToListed -benchtime 1x ./queen/server/

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
	"github.com/rbee-fleet/rbee/testenv/require"
)

const (
	// readyWorkers is how many workers one op makes ready.
	readyWorkers = 20
	readyNode    = "ready-1"
	readyModel   = "hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M"
)

// BenchmarkReadyToListed spawns workers through the queen on a real
// hive-agent process whose backend never calls back by itself (it writes
// its callback token to a file and sleeps); the benchmark then acts as
// each worker and times its ready callback: the POST's round trip at the
// agent (which relays the change to the queen before it answers), and the
// time until GET /v1/workers/list at the queen shows the worker idle;
// target ≤ 50 ms. One op is 20 workers, stopped through the queen after.
//
//	go test -run '^$' -bench ReadyToListed -benchtime 1x ./queen/server/
func BenchmarkReadyToListed(b *testing.B) {
	requireGo(b)
	for _, prog := range []string{"/bin/sh", "sleep"} {
		require.Binary(b, prog, "the fake worker is a shell script that sleeps: install coreutils")
	}
	env := startReadyFleet(b)
	var post, listed []time.Duration
	late := 0
	for b.Loop() {
		for _, s := range env.round(b) {
			post, listed = append(post, s.post), append(listed, s.listed)
			if s.polls > 0 {
				late++
			}
		}
	}
	b.StopTimer()
	slices.Sort(post)
	slices.Sort(listed)
	b.Logf("%d workers; POST /v1/workers/ready: p50 %v max %v; listed idle at the queen: p50 %v max %v; "+
		"listed only after more polls: %d", len(post), median(post), post[len(post)-1],
		median(listed), listed[len(listed)-1], late)
	b.ReportMetric(ms(median(post)), "post-p50-ms")
	b.ReportMetric(ms(post[len(post)-1]), "post-max-ms")
	b.ReportMetric(ms(median(listed)), "listed-p50-ms")
	b.ReportMetric(ms(listed[len(listed)-1]), "listed-max-ms")
	b.ReportMetric(float64(late), "late-listings")
}

// readyFleet is an in-process queen and one real agent.
type readyFleet struct {
	queenURL  string
	agentURL  string
	tokenDir  string // where the fake workers write their callback tokens
	agent     *exec.Cmd
	stderr    *lockedBuffer
	exited    chan struct{}
	workerPID map[int]bool // every worker pid seen, for the last-resort cleanup
}

// readySample is one worker's ready callback.
type readySample struct {
	post   time.Duration // POST /v1/workers/ready round trip
	listed time.Duration // from just before the POST until the queen lists it idle
	polls  int           // lists after the first one that still did not show it idle
}

// startReadyFleet registers the node with its agent's URL and tokens,
// starts the queen in-process and the agent as a process, and waits until
// the agent answers.
func startReadyFleet(b *testing.B) *readyFleet {
	b.Helper()
	bin := filepath.Join(gobuild.Binaries(b, "", "../../hive-agent"), "hive-agent")
	dir := b.TempDir()
	f := &readyFleet{tokenDir: filepath.Join(dir, "tokens"), stderr: &lockedBuffer{}, exited: make(chan struct{}),
		workerPID: map[int]bool{}}
	if err := os.Mkdir(f.tokenDir, 0o700); err != nil {
		b.Fatal(err)
	}
	agentAddr := freeLoopback(b)
	f.agentURL = "http://" + agentAddr
	reg := openBenchRegistry(b, filepath.Join(dir, "beehives.db"))
	hiveToken, agentToken := registerReadyNode(b, reg, f.agentURL)

	srv := server.New(server.Config{Registry: reg, Token: token, Logger: slog.New(slog.DiscardHandler),
		HeartbeatInterval: benchInterval})
	go srv.Run(b.Context())
	queen := httptest.NewServer(srv.Handler())
	b.Cleanup(queen.Close)
	f.queenURL = queen.URL

	script := "printf %s \"$" + api.WorkerTokenEnv + "\" > '" + f.tokenDir + "'/{worker_id}.token; exec sleep 600"
	cfg := api.AgentConfig{
		NodeName: readyNode, QueenURL: queen.URL, HiveToken: hiveToken, Listen: agentAddr,
		Backends:         []api.Backend{{Name: api.BackendCPU, Command: []string{"/bin/sh", "-c", script}, DeviceKind: api.BackendCPU}},
		QueenTokenSHA256: install.HashToken(agentToken), WorkerStopGraceMS: 2000,
	}
	cfgPath := filepath.Join(dir, "agent", "hive-agent.json")
	writeAgentConfig(b, cfgPath, cfg)
	f.agent = exec.Command(bin, "serve", "--config", cfgPath)
	f.agent.Stdout, f.agent.Stderr = f.stderr, f.stderr
	if err := f.agent.Start(); err != nil {
		b.Fatalf("start hive-agent: %v", err)
	}
	go func() { _ = f.agent.Wait(); close(f.exited) }()
	b.Cleanup(func() { f.stop(b) })
	waitHealthy(b, f.agentURL, f.exited, f.stderr)
	return f
}

// registerReadyNode adds the online node whose agent is at agentURL and
// returns its hive token and agent token.
func registerReadyNode(b *testing.B, reg *hiveregistry.Registry, agentURL string) (hiveToken, agentToken string) {
	b.Helper()
	err := reg.Add(b.Context(), api.Node{
		NodeName: readyNode, SSHHost: "127.0.0.1", SSHPort: 22, GitRepoURL: "file:///srv/git/rbee.git",
		GitBranch: "main", InstallPath: "/opt/rbee", AgentPort: api.DefaultAgentPort,
		Status: api.StatusOnline, AgentURL: agentURL, Transport: api.TransportHTTP,
	})
	if err != nil {
		b.Fatal(err)
	}
	hiveToken, hash := install.MintToken()
	agentToken, _ = install.MintToken()
	if err := reg.SetTokens(b.Context(), readyNode, hash, agentToken); err != nil {
		b.Fatal(err)
	}
	return hiveToken, agentToken
}

// round makes readyWorkers workers ready one after the other, then stops
// them all through the queen.
func (f *readyFleet) round(b *testing.B) []readySample {
	b.Helper()
	samples := make([]readySample, 0, readyWorkers)
	var ids []string
	for range readyWorkers {
		id, s := f.readyOne(b)
		samples = append(samples, s)
		ids = append(ids, id)
	}
	for _, id := range ids {
		var stopped api.Worker
		if st := postJSON(b, f.queenURL+"/v1/workers/"+id+"/stop", token, nil, &stopped); st != http.StatusOK {
			b.Fatalf("stop %s: status %d", id, st)
		}
	}
	return samples
}

// readyOne spawns a worker through the queen, waits for its token file and
// its listing as loading, then times its ready callback.
func (f *readyFleet) readyOne(b *testing.B) (string, readySample) {
	b.Helper()
	spawned := make(chan spawnResult, 1)
	go func() {
		var r spawnResult
		r.status, r.err = tryPostJSON(b, f.queenURL+"/v1/workers/spawn", token, api.SpawnWorkerRequest{
			Node: readyNode, ModelRef: readyModel, Backend: api.BackendCPU, ReadyTimeoutMS: 30_000}, &r.w)
		spawned <- r
	}()
	id, workerToken := f.awaitToken(b, spawned)
	w := f.awaitListed(b, id, api.WorkerLoading)
	f.workerPID[w.PID] = true

	var s readySample
	began := time.Now()
	var ans map[string]string
	st := postJSON(b, f.agentURL+"/v1/workers/ready", workerToken, api.ReadyCallback{ID: id, URL: w.URL,
		ModelRef: readyModel, Backend: api.BackendCPU, SlotsTotal: 1}, &ans)
	s.post = time.Since(began)
	if st != http.StatusOK {
		b.Fatalf("ready callback of %s: status %d %v", id, st, ans)
	}
	for ; ; s.polls++ {
		if got, ok := f.listed(b, id); ok && got.State == api.WorkerIdle {
			s.listed = time.Since(began)
			break
		}
		if time.Since(began) > 10*time.Second {
			b.Fatalf("worker %s not listed idle 10 s after its ready callback:\n%s", id, f.stderr.String())
		}
	}
	if r := <-spawned; r.err != nil || r.status != http.StatusCreated || r.w.ID != id {
		b.Fatalf("spawn: status %d, worker %q, err %v; want 201 for %s", r.status, r.w.ID, r.err, id)
	}
	return id, s
}

type spawnResult struct {
	status int
	w      api.Worker
	err    error
}

// awaitToken waits for a fake worker's token file and returns its worker
// id and token; it removes the file, so the next call waits for the next
// worker.
func (f *readyFleet) awaitToken(b *testing.B, spawned <-chan spawnResult) (id, workerToken string) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := os.ReadDir(f.tokenDir)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range entries {
			// The shell creates the file, then printf writes the
			// token in one write: a non-empty file is complete.
			id, ok := strings.CutSuffix(e.Name(), ".token")
			path := filepath.Join(f.tokenDir, e.Name())
			if data, err := os.ReadFile(path); ok && err == nil && len(data) > 0 {
				_ = os.Remove(path)
				return id, string(data)
			}
		}
		select {
		case r := <-spawned:
			b.Fatalf("spawn ended before the worker wrote its token: status %d, err %v:\n%s", r.status, r.err, f.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("no worker token in %s 10 s after the spawn:\n%s", f.tokenDir, f.stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// awaitListed waits until the queen lists worker id in state.
func (f *readyFleet) awaitListed(b *testing.B, id, state string) api.Worker {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if w, ok := f.listed(b, id); ok && w.State == state {
			return w
		}
		if time.Now().After(deadline) {
			b.Fatalf("the queen does not list %s as %s after 10 s:\n%s", id, state, f.stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// listed returns worker id as the queen lists it.
func (f *readyFleet) listed(b *testing.B, id string) (api.Worker, bool) {
	b.Helper()
	var list api.WorkerList
	getJSON(b, f.queenURL+"/v1/workers/list?node="+readyNode, token, &list)
	for _, w := range list.Workers {
		if w.ID == id {
			return w, true
		}
	}
	return api.Worker{}, false
}

// stop ends the agent with SIGTERM (it stops its workers); a worker that
// outlived it anyway is killed by its process group.
func (f *readyFleet) stop(b *testing.B) {
	b.Helper()
	stopProcess(b, f.agent, f.exited, 15*time.Second)
	for pid := range f.workerPID {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && bytes.HasPrefix(cmdline, []byte("sleep\x00600")) {
			b.Errorf("worker %d outlived its agent; killing it", pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

// writeAgentConfig writes cfg to path, mode 0600, creating its folder.
func writeAgentConfig(b *testing.B, path string, cfg api.AgentConfig) {
	b.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
}

// postJSON posts body as JSON with a bearer token, decodes the answer into
// out and returns the status.
func postJSON(b *testing.B, url, bearer string, body, out any) int {
	b.Helper()
	st, err := tryPostJSON(b, url, bearer, body, out)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// tryPostJSON is postJSON for goroutines other than the benchmark's: it
// returns errors instead of failing.
func tryPostJSON(b *testing.B, url, bearer string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(ans) > 0 {
		if err := json.Unmarshal(ans, out); err != nil {
			return resp.StatusCode, fmt.Errorf("POST %s: decode %q: %w", url, ans, err)
		}
	}
	return resp.StatusCode, nil
}

// median returns the middle of sorted (the lower one of an even count).
func median(sorted []time.Duration) time.Duration {
	return sorted[(len(sorted)-1)/2]
}
