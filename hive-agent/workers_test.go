package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
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

// freePortRange returns the first of n consecutive loopback ports that
// were free a moment ago, from a base picked by the OS.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if base+n > 65535 {
			continue
		}
		free := true
		for p := base; p < base+n && free; p++ {
			l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}
