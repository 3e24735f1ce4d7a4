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
		switch r.URL.Path {
		case "/v1/hives/workstation":
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
				if h := hintOf(res.err); !strings.Contains(h, "queen setup list-nodes") || h != tt.wantHint {
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
