package main

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestSIGHUPReloadsTokens rotates both tokens of a real agent with a real
// worker: the config is rewritten and the agent gets SIGHUP. It keeps
// running, refuses the old queen token and takes the new one, beats with
// the new hive token, and the worker keeps its pid. A config that fails
// to load on a later SIGHUP is logged and the tokens in force stay.
func TestSIGHUPReloadsTokens(t *testing.T) {
	q := startQueen(t, "127.0.0.1:0")
	oldQueen, newQueen := newToken(t), newToken(t)
	a := startWorkerAgent(t, q.url(), oldQueen, nil)
	w := a.spawnWorker(t, oldQueen, api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", ReadyTimeoutMS: 20000})

	newHive := newToken(t)
	rotated := maps.Clone(a.config)
	rotated["hive_token"], rotated["queen_token_sha256"] = newHive, sha256Hex(newQueen)
	writeConfig(t, a.configPath, rotated, 0o600)
	a.hangUp(t)
	a.waitOutput(t, "SIGHUP: reloaded the tokens", 5*time.Second)

	wantQueenTokens(t, a, map[string]int{oldQueen: http.StatusUnauthorized, newQueen: http.StatusOK})
	list := a.listWorkers(t, newQueen)
	if len(list.Workers) != 1 || list.Workers[0].ID != w.ID || list.Workers[0].PID != w.PID || list.Workers[0].State != api.WorkerIdle {
		t.Errorf("workers after SIGHUP = %+v, want %s idle with pid %d", list.Workers, w.ID, w.PID)
	}
	if err := syscall.Kill(w.PID, 0); err != nil {
		t.Errorf("worker pid %d after SIGHUP: %v", w.PID, err)
	}
	from := len(q.allBeats())
	beats := q.waitBeats(t, from+2, 3*time.Second)
	if last := beats[len(beats)-1]; last.auth != "Bearer "+newHive {
		t.Errorf("heartbeat after SIGHUP is not sent with the new hive token")
	}
	out := a.stderr.String()
	if !strings.Contains(out, sha256Hex(newHive)[:12]) || !strings.Contains(out, sha256Hex(newQueen)[:12]) {
		t.Errorf("reload log does not name the new tokens by their SHA-256 prefix:\n%s", out)
	}

	bad := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{name: "broken JSON", data: `{"node_name":`, mode: 0o600},
		{name: "readable by others", data: `{}`, mode: 0o644},
	}
	for _, tt := range bad {
		if err := os.WriteFile(a.configPath, []byte(tt.data), tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(a.configPath, tt.mode); err != nil {
			t.Fatal(err)
		}
		n := strings.Count(a.stderr.String(), "SIGHUP: config not reloaded")
		a.hangUp(t)
		waitCount(t, a, "SIGHUP: config not reloaded; the tokens in force stay", n+1)
		wantQueenTokens(t, a, map[string]int{oldQueen: http.StatusUnauthorized, newQueen: http.StatusOK})
	}
	a.stop(t)
	for _, tok := range []string{oldQueen, newQueen, newHive} {
		assertNoToken(t, tok, a.stdout.String()+a.stderr.String())
	}
}

// wantQueenTokens checks the status the agent answers a queen route with
// for each token.
func wantQueenTokens(t *testing.T, a *agent, want map[string]int) {
	t.Helper()
	for token, status := range want {
		if got := a.call(t, token, http.MethodGet, "/v1/workers/list", nil, nil); got != status {
			t.Errorf("list with the %s queen token: %d, want %d", map[int]string{200: "new", 401: "old"}[status], got, status)
		}
	}
}

// hangUp sends SIGHUP to the agent and checks that it still runs.
func (a *agent) hangUp(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if a.exitedNow() {
		t.Fatalf("agent exited on SIGHUP:\n%s", a.stderr.String())
	}
}

// waitCount waits until the agent's stderr holds s n times.
func waitCount(t *testing.T, a *agent, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(a.stderr.String(), s) < n {
		if time.Now().After(deadline) || a.exitedNow() {
			t.Fatalf("agent did not log %q %d times (exited %v):\n%s", s, n, a.exitedNow(), a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
