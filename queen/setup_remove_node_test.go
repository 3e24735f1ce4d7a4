package main

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestRemoveNode(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete {
			t.Errorf("method = %s, want DELETE", r.Method)
		}
		switch {
		case r.URL.Path == "/v1/hives/busy" && r.URL.Query().Get("force") == "true":
			answerJSON(w, http.StatusOK, api.RemoveNodeResponse{Removed: "busy", AgentPID: 4242,
				Warning: "the agent of busy (pid 4242, 1 worker(s)) keeps running on the node, unmanaged"})
		case r.URL.Path == "/v1/hives/busy":
			answerError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeAgentRunning,
				Message: "the agent of busy is running (pid 4242, 1 worker(s))",
				Hint:    "stop and uninstall it with `queen setup remove-node --name busy --uninstall`"})
		case r.URL.Path == "/v1/hives/workstation":
			answerJSON(w, http.StatusOK, api.RemoveNodeResponse{Removed: "workstation"})
		default:
			answerError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: "hive not found"})
		}
	})
	tests := []struct {
		name       string
		args       []string
		wantOut    string
		wantErr    string
		wantHint   string
		wantNotFnd bool
	}{
		{name: "removed", args: []string{"setup", "remove-node", "--name", "workstation"}, wantOut: "[queen] ✅ Node 'workstation' removed from registry\n"},
		{name: "removed, json", args: []string{"--json", "setup", "remove-node", "--name", "workstation"}, wantOut: "{\n  \"removed\": \"workstation\"\n}\n"},
		{name: "agent running", args: []string{"setup", "remove-node", "--name", "busy"},
			wantErr: "the agent of busy is running (pid 4242, 1 worker(s))", wantHint: "queen setup remove-node --name busy --uninstall"},
		{name: "forced", args: []string{"setup", "remove-node", "--name", "busy", "--force"},
			wantOut: "[queen] ✅ Node 'busy' removed from registry\n[queen] ⚠️  the agent of busy (pid 4242, 1 worker(s)) keeps running on the node, unmanaged\n"},
		{name: "unknown", args: []string{"setup", "remove-node", "--name", "gpu-9"},
			wantErr: `node "gpu-9" not found`, wantHint: "list the registered nodes with `queen setup list-nodes`", wantNotFnd: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runQueen(t, q.args(tt.args...)...)
			if tt.wantErr != "" {
				if res.err == nil || res.err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", res.err, tt.wantErr)
				}
				if h := hintOf(res.err); !strings.Contains(h, tt.wantHint) {
					t.Errorf("hint = %q, want %q", h, tt.wantHint)
				}
				if errors.Is(res.err, errNodeNotFound) != tt.wantNotFnd {
					t.Errorf("errors.Is(err, errNodeNotFound) = %v", errors.Is(res.err, errNodeNotFound))
				}
				return
			}
			if res.err != nil {
				t.Fatalf("remove-node: %v", res.err)
			}
			if res.stdout != tt.wantOut {
				t.Errorf("stdout = %q, want %q", res.stdout, tt.wantOut)
			}
		})
	}
}
