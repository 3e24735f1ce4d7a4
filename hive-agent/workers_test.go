package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
)

// TestSIGTERMStopsWorkers spawns two reference workers through the agent's
// API, one of which ignores SIGTERM, and sends the agent SIGTERM: with the
// default grace it must stop both (SIGKILL for the stubborn one),
// deregister them at the queen and exit 0 within 15 s.
func TestSIGTERMStopsWorkers(t *testing.T) {
	worker := filepath.Join(gobuild.Binaries(t, "", "./rbee-worker"), "rbee-worker")
	q := startQueen(t, "127.0.0.1:0")
	queenToken := newToken(t)
	sum := sha256.Sum256([]byte(queenToken))
	argv := []string{worker, "--worker-id", "{worker_id}", "--model-ref", "{model_ref}", "--backend", "{backend}",
		"--device", "{device}", "--port", "{port}", "--callback-url", "{callback_url}"}
	portMin := freePortRange(t, 10)
	a := startAgentWith(t, q.url(), "", map[string]any{
		"queen_token_sha256": hex.EncodeToString(sum[:]),
		"worker_port_min":    portMin, "worker_port_max": portMin + 9,
		"backends": []api.Backend{
			{Name: "cpu", Command: argv},
			{Name: "stubborn", DeviceKind: "cpu", Command: append(slices.Clone(argv), "--ignore-sigterm")},
		},
	})
	var workers []api.Worker
	for _, backend := range []string{"cpu", "stubborn"} {
		body, _ := json.Marshal(api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: backend, ReadyTimeoutMS: 20000})
		req, _ := http.NewRequest("POST", "http://"+a.listen+"/v1/workers/spawn", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+queenToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var w api.Worker
		err = json.NewDecoder(resp.Body).Decode(&w)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated || w.State != api.WorkerIdle {
			t.Fatalf("spawn %s: %s %+v (%v)", backend, resp.Status, w, err)
		}
		workers = append(workers, w)
	}

	sent := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("agent still running 15s after SIGTERM:\n%s", a.stderr.String())
	}
	took := time.Since(sent)
	t.Logf("agent with 2 workers (one ignoring SIGTERM) exited %v after SIGTERM", took)
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0:\n%s", code, a.stderr.String())
	}
	var removed []string
	for _, b := range q.allBeats() {
		if b.method == http.MethodDelete {
			removed = append(removed, filepath.Base(b.path))
		}
	}
	for _, w := range workers {
		if err := syscall.Kill(w.PID, 0); err == nil {
			t.Errorf("worker %s (pid %d) still runs after the agent exited", w.ID, w.PID)
		}
		if !slices.Contains(removed, w.ID) {
			t.Errorf("worker %s was not deregistered at the queen (deletes: %v)", w.ID, removed)
		}
	}
}

// freePortRange returns the first of n consecutive ports that were free a
// moment ago. The base is random below the kernel's ephemeral range
// (32768 and up), where the outgoing connections of tests running beside
// this one (thousands, in the load tests) take no port.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN(12000)
		if portsFree(base, n) {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// portsFree reports whether ports base to base+n-1 can be listened on.
func portsFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// TestSpawnWithoutWorkerBinary spawns through a real agent whose backend
// runs <install path>/bin/rbee-worker, which is missing: 503
// BACKEND_NOT_INSTALLED with the install to re-run, not a raw exec error.
func TestSpawnWithoutWorkerBinary(t *testing.T) {
	q := startQueen(t, "127.0.0.1:0")
	queenToken := newToken(t)
	dir := filepath.Join(t.TempDir(), "rbee install")
	missing := filepath.Join(dir, "bin", "rbee-worker")
	portMin := freePortRange(t, 5)
	a := startAgentIn(t, dir, q.url(), "", map[string]any{
		"queen_token_sha256": sha256Hex(queenToken),
		"worker_port_min":    portMin, "worker_port_max": portMin + 4,
		"backends": []api.Backend{{Name: "cpu", Command: workerArgv(missing)}},
	})
	var body api.ErrorBody
	status := a.call(t, queenToken, http.MethodPost, "/v1/workers/spawn", api.SpawnWorkerRequest{ModelRef: "hf:test/tiny"}, &body)
	e := body.Error
	if status != http.StatusServiceUnavailable || e.Code != api.CodeBackendNotInstalled ||
		!strings.Contains(e.Message, missing) || strings.Contains(e.Message, "fork/exec") ||
		!strings.Contains(e.Hint, "queen setup install --node gpu-1") {
		t.Errorf("spawn without %s: %d %+v, want 503 %s naming it, with the install to run", missing, status, e, api.CodeBackendNotInstalled)
	}
	if got := a.listWorkers(t, queenToken); len(got.Workers) != 0 {
		t.Errorf("workers = %+v, want none", got.Workers)
	}
}

// TestStopSaysWorkerWasKilled stops, through a real agent, a worker that
// ignores SIGTERM and one that does not: the answer says whether the
// worker was killed after the grace, and how long the stop took.
func TestStopSaysWorkerWasKilled(t *testing.T) {
	q := startQueen(t, "127.0.0.1:0")
	queenToken := newToken(t)
	const grace = 500 * time.Millisecond
	a := startWorkerAgent(t, q.url(), queenToken, map[string]any{"worker_stop_grace_ms": grace.Milliseconds()})
	tests := []struct {
		backend string
		killed  bool
		minMS   int64
		maxMS   int64
	}{
		{backend: "cpu", killed: false, minMS: 0, maxMS: grace.Milliseconds() - 1},
		{backend: "stubborn", killed: true, minMS: grace.Milliseconds(), maxMS: grace.Milliseconds() + 2000},
	}
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			w := a.spawnWorker(t, queenToken, api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: tt.backend, ReadyTimeoutMS: 20000})
			var got api.Worker
			if status := a.call(t, queenToken, http.MethodPost, "/v1/workers/"+w.ID+"/stop", nil, &got); status != http.StatusOK {
				t.Fatalf("stop: %d", status)
			}
			if got.ID != w.ID || got.Killed != tt.killed || got.StopMS < tt.minMS || got.StopMS > tt.maxMS {
				t.Errorf("stop answered %s killed %v after %d ms, want %s killed %v after %d–%d ms",
					got.ID, got.Killed, got.StopMS, w.ID, tt.killed, tt.minMS, tt.maxMS)
			}
			if err := syscall.Kill(w.PID, 0); err == nil {
				t.Errorf("worker %d still runs after its stop", w.PID)
			}
		})
	}
	a.stop(t)
}

// workerArgv is the argv template of install's default backends for the
// worker binary bin, with extra flags appended.
func workerArgv(bin string, extra ...string) []string {
	argv := []string{bin, "--worker-id", "{worker_id}", "--model-ref", "{model_ref}", "--backend", "{backend}",
		"--device", "{device}", "--port", "{port}", "--callback-url", "{callback_url}"}
	return append(argv, extra...)
}

// startWorkerAgent starts an agent that takes queenToken, with the
// reference worker as backends cpu and stubborn (which ignores SIGTERM)
// and extra config fields.
func startWorkerAgent(t *testing.T, queenURL, queenToken string, extra map[string]any) *agent {
	t.Helper()
	worker := filepath.Join(gobuild.Binaries(t, "", "./rbee-worker"), "rbee-worker")
	portMin := freePortRange(t, 10)
	cfg := map[string]any{
		"queen_token_sha256": sha256Hex(queenToken),
		"worker_port_min":    portMin, "worker_port_max": portMin + 9,
		"backends": []api.Backend{
			{Name: "cpu", Command: workerArgv(worker)},
			{Name: "stubborn", DeviceKind: "cpu", Command: workerArgv(worker, "--ignore-sigterm")},
		},
	}
	maps.Copy(cfg, extra)
	return startAgentWith(t, queenURL, "", cfg)
}

// call sends a request with the queen token to the agent, with body as
// JSON (nil: none), decodes the answer into out (nil: ignored) and
// returns its status.
func (a *agent) call(t *testing.T, token, method, path string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+a.listen+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %s with a body that is not JSON: %v", method, path, resp.Status, err)
		}
	}
	return resp.StatusCode
}

// spawnWorker spawns a worker through the agent and fails the test unless
// it is idle.
func (a *agent) spawnWorker(t *testing.T, token string, req api.SpawnWorkerRequest) api.Worker {
	t.Helper()
	var w api.Worker
	if status := a.call(t, token, http.MethodPost, "/v1/workers/spawn", req, &w); status != http.StatusCreated || w.State != api.WorkerIdle {
		t.Fatalf("spawn %s: %d %+v", req.Backend, status, w)
	}
	return w
}

// listWorkers lists the agent's workers.
func (a *agent) listWorkers(t *testing.T, token string) api.WorkerList {
	t.Helper()
	var l api.WorkerList
	if status := a.call(t, token, http.MethodGet, "/v1/workers/list", nil, &l); status != http.StatusOK {
		t.Fatalf("list workers: %d", status)
	}
	return l
}

// stop sends SIGTERM to the agent, which stops its workers, and waits
// until it exited 0.
func (a *agent) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("agent still running 15s after SIGTERM:\n%s", a.stderr.String())
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("agent exit code %d after SIGTERM, want 0", code)
	}
}
