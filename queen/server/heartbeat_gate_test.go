package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
)

func TestGate(t *testing.T) {
	g := newGate(1, 20*time.Millisecond)
	if !g.enter(t.Context()) {
		t.Fatal("a free gate refused")
	}
	start := time.Now()
	if g.enter(t.Context()) {
		t.Fatal("a full gate let a second one in")
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Errorf("a full gate refused after %v, want after its 20 ms wait", waited)
	}
	done := make(chan bool)
	go func() { done <- g.enter(context.Background()) }()
	time.Sleep(5 * time.Millisecond)
	g.leave()
	if !<-done {
		t.Error("a slot given back within the wait was not taken")
	}
}

// TestHeartbeatBusyAnswers503: while the gate is full a heartbeat is
// answered 503 QUEEN_BUSY with a Retry-After from 1 s to the interval,
// not left to time out, and nothing of it is applied.
func TestHeartbeatBusyAnswers503(t *testing.T) {
	reg, err := hiveregistry.Open(t.Context(), filepath.Join(t.TempDir(), "beehives.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	s := New(Config{Registry: reg, Token: "test-admin-token-0123456789abcdef", Logger: slog.New(slog.DiscardHandler),
		HeartbeatInterval: 5 * time.Second})
	for range cap(s.beats.gate.slots) {
		s.beats.gate.slots <- struct{}{}
	}
	retryAfters := map[int]bool{}
	for range 40 {
		body, _ := json.Marshal(api.HeartbeatRequest{PID: 1, Workers: []api.Worker{}})
		req := httptest.NewRequest(http.MethodPost, "/v1/hives/gpu-1/heartbeat", strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var eb api.ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &eb)
		n, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		if rec.Code != http.StatusServiceUnavailable || eb.Error.Code != api.CodeQueenBusy || err != nil || n < 1 || n > 5 {
			t.Fatalf("answer %d Retry-After %q body %s; want 503 QUEEN_BUSY with Retry-After 1–5",
				rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
		retryAfters[n] = true
	}
	if len(retryAfters) < 3 {
		t.Errorf("Retry-After took %d values in 40 answers, want them spread", len(retryAfters))
	}
	if _, ok := s.beats.last("gpu-1"); ok {
		t.Error("a refused beat was recorded")
	}
}

// TestRepeatedBodyStaysOnTheFastPath: an old agent's body equal to its
// last one keeps the hash and the records' checksum it left, so every
// repeat, not every other one, skips the decode.
func TestRepeatedBodyStaysOnTheFastPath(t *testing.T) {
	reg, err := hiveregistry.Open(t.Context(), filepath.Join(t.TempDir(), "beehives.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if err := reg.Add(t.Context(), api.Node{NodeName: "gpu-1", SSHHost: "10.0.0.7", SSHPort: 22, GitRepoURL: "file:///srv/rbee.git",
		GitBranch: "main", InstallPath: "/opt/rbee", AgentPort: 7835, Status: api.StatusOnline, Transport: api.TransportHTTP}); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetTokens(t.Context(), "gpu-1", install.HashToken("hvt_test"), "agent-token"); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Registry: reg, Token: "test-admin-token-0123456789abcdef", Logger: slog.New(slog.DiscardHandler)})
	w := api.Worker{ID: "w-1", Node: "gpu-1", URL: "http://10.0.0.7:8081", ModelRef: "hf:a/b", Backend: api.BackendCPU,
		State: api.WorkerIdle, SlotsTotal: 1, SlotsAvailable: 1, StartedUnix: 1}
	body, _ := json.Marshal(api.HeartbeatRequest{PID: 1, StartedUnix: 1, Workers: []api.Worker{w}})
	for i := range 4 {
		req := httptest.NewRequest(http.MethodPost, "/v1/hives/gpu-1/heartbeat", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer hvt_test")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("beat %d: %d %s", i, rec.Code, rec.Body)
		}
		b, _ := s.beats.last("gpu-1")
		if b.hash == 0 || b.sum == 0 || b.sum != s.workers.Sum("gpu-1") {
			t.Errorf("after beat %d: hash %x, sum %x, the records' %x: the next repeat would be decoded", i, b.hash, b.sum, s.workers.Sum("gpu-1"))
		}
	}
}
