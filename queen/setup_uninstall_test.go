package main

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestUninstall(t *testing.T) {
	tests := []struct {
		name     string
		flags    []string
		wantBody string
	}{
		{name: "everything", wantBody: `{}`},
		{name: "keep source", flags: []string{"--keep-source"}, wantBody: `{"keep_source":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				answerEvents(t, w,
					api.Event{Level: api.LevelInfo, Node: "gpu-1", Phase: "stop agent", Message: "agent stopped (pid 4242)", ElapsedMS: 1500},
					doneEvent(t, "gpu-1", "✅ Agent removed from 'gpu-1'", api.HiveStatus{Node: "gpu-1", Status: api.StatusReachable}))
			})
			res := runQueen(t, q.args(append([]string{"setup", "uninstall", "--node", "gpu-1"}, tt.flags...)...)...)
			if res.err != nil {
				t.Fatalf("uninstall: %v", res.err)
			}
			req := q.last(t)
			if req.method != http.MethodPost || req.path != "/v1/hives/gpu-1/uninstall" {
				t.Errorf("request = %s %s, want POST /v1/hives/gpu-1/uninstall", req.method, req.path)
			}
			if got := strings.TrimSpace(string(req.body)); got != tt.wantBody {
				t.Errorf("body = %s, want %s", got, tt.wantBody)
			}
			if want := "[gpu-1] agent stopped (pid 4242) (1.5s)\n[gpu-1] ✅ Agent removed from 'gpu-1'\n"; res.stdout != want {
				t.Errorf("stdout = %q, want %q", res.stdout, want)
			}
		})
	}
}

func TestUninstallErrors(t *testing.T) {
	failed := api.ErrorDetail{Code: api.CodeSSHConnectFailed, Message: "ssh to 10.0.0.7:22: connection timed out after 3 attempts",
		Hint: "check that the node is up and reachable"}
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/hives/gpu-9/uninstall" {
			answerError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: `hive not found: "gpu-9"`})
			return
		}
		answerEvents(t, w, api.ErrorEvent(1, "gpu-1", failed))
	})
	t.Run("unknown node", func(t *testing.T) {
		res := runQueen(t, q.args("setup", "uninstall", "--node", "gpu-9")...)
		if res.err == nil || res.err.Error() != `node "gpu-9" not found` || !errors.Is(res.err, errNodeNotFound) {
			t.Fatalf("err = %v, want node \"gpu-9\" not found", res.err)
		}
		if h := hintOf(res.err); h != "list the registered nodes with `queen setup list-nodes`" {
			t.Errorf("hint = %q", h)
		}
	})
	t.Run("failed", func(t *testing.T) {
		res := runQueen(t, q.args("setup", "uninstall", "--node", "gpu-1")...)
		if res.err == nil || res.err.Error() != failed.Message || hintOf(res.err) != failed.Hint {
			t.Fatalf("err = %v (hint %q), want %q (hint %q)", res.err, hintOf(res.err), failed.Message, failed.Hint)
		}
	})
	t.Run("without --node", func(t *testing.T) {
		res := runQueen(t, q.args("setup", "uninstall")...)
		if res.err == nil || !strings.Contains(res.err.Error(), "missing flags: --node=NAME") {
			t.Fatalf("err = %v, want missing flags: --node=NAME", res.err)
		}
	})
}
