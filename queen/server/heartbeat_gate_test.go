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
