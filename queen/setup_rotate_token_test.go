package main

import (
	"net/http"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestRotateToken(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerEvents(t, w,
			api.Event{Level: api.LevelInfo, Node: "gpu-1", Phase: "rotate tokens", Message: "sent SIGHUP to the agent (pid 4242)"},
			doneEvent(t, "gpu-1", "✅ new tokens in force on gpu-1; the old ones are refused", api.HiveStatus{Node: "gpu-1", Status: api.StatusOnline}))
	})
	res := runQueen(t, q.args("setup", "rotate-token", "--node", "gpu-1")...)
	if res.err != nil {
		t.Fatalf("rotate-token: %v", res.err)
	}
	if req := q.last(t); req.method != http.MethodPost || req.path != "/v1/hives/gpu-1/rotate-token" {
		t.Errorf("request = %s %s, want POST /v1/hives/gpu-1/rotate-token", req.method, req.path)
	}
	if want := "[gpu-1] sent SIGHUP to the agent (pid 4242)\n[gpu-1] ✅ new tokens in force on gpu-1; the old ones are refused\n"; res.stdout != want {
		t.Errorf("stdout = %q, want %q", res.stdout, want)
	}
}
