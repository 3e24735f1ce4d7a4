package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestUpdateNodeSendsOnlyGivenFlags(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	writeFile(t, filepath.Join(home, ".ssh", "id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o600)
	tests := []struct {
		name     string
		flags    []string
		wantBody string
	}{
		{name: "port", flags: []string{"--ssh-port", "2222"}, wantBody: `{"ssh_port":2222}`},
		{name: "empty user hands the choice to ssh", flags: []string{"--ssh-user", ""}, wantBody: `{"ssh_user":""}`},
		{name: "key expanded", flags: []string{"--ssh-key", "~/.ssh/id_ed25519"}, wantBody: `{"ssh_key_path":"` + filepath.Join(home, ".ssh", "id_ed25519") + `"}`},
		{name: "empty key means ssh-agent", flags: []string{"--ssh-key", ""}, wantBody: `{"ssh_key_path":""}`},
		{name: "reset host key", flags: []string{"--reset-host-key"}, wantBody: `{"reset_host_key":true}`},
		{
			name:     "branch, path and timeout",
			flags:    []string{"--git-branch", "feature/x", "--install-path", "/srv/rbee agent", "--connect-timeout", "30s"},
			wantBody: `{"git_branch":"feature/x","install_path":"/srv/rbee agent","connect_timeout_ms":30000}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				answerEvents(t, w, doneEvent(t, "gpu-1", "✅ Node 'gpu-1' updated", api.Node{NodeName: "gpu-1"}))
			})
			res := runQueen(t, q.args(append([]string{"setup", "update-node", "--name", "gpu-1"}, tt.flags...)...)...)
			if res.err != nil {
				t.Fatalf("update-node: %v", res.err)
			}
			req := q.last(t)
			if req.method != http.MethodPatch || req.path != "/v1/hives/gpu-1" {
				t.Errorf("request = %s %s, want PATCH /v1/hives/gpu-1", req.method, req.path)
			}
			if got := strings.TrimSpace(string(req.body)); got != tt.wantBody {
				t.Errorf("body = %s, want %s", got, tt.wantBody)
			}
			if want := "[gpu-1] ✅ Node 'gpu-1' updated\n"; res.stdout != want {
				t.Errorf("stdout = %q, want %q", res.stdout, want)
			}
		})
	}
}

func TestUpdateNodeErrors(t *testing.T) {
	tests := []struct {
		name         string
		flags        []string
		wantErr      string
		wantHint     string
		wantRequests int
	}{
		{name: "nothing to change", flags: []string{"--name", "gpu-1"},
			wantErr: "check the update-node flags: invalid request: must change at least one field or set reset_host_key", wantHint: "change at least one flag, or pass --reset-host-key"},
		{name: "connect timeout alone changes nothing", flags: []string{"--name", "gpu-1", "--connect-timeout", "5s"},
			wantErr: "check the update-node flags: invalid request", wantHint: "change at least one flag, or pass --reset-host-key"},
		{name: "bad name", flags: []string{"--name", "../etc", "--ssh-port", "2222"},
			wantErr: `check --name: invalid`, wantHint: "list the registered nodes with `queen setup list-nodes`"},
		{name: "unknown node", flags: []string{"--name", "gpu-9", "--ssh-port", "2222"},
			wantErr: `node "gpu-9" not found`, wantHint: "list the registered nodes with `queen setup list-nodes`", wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				answerError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: `hive not found: "gpu-9"`})
			})
			res := runQueen(t, q.args(append([]string{"setup", "update-node"}, tt.flags...)...)...)
			if res.err == nil || !strings.HasPrefix(res.err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to start with %q", res.err, tt.wantErr)
			}
			if h := hintOf(res.err); h != tt.wantHint {
				t.Errorf("hint = %q, want %q", h, tt.wantHint)
			}
			if q.count() != tt.wantRequests {
				t.Errorf("%d requests reached the queen, want %d", q.count(), tt.wantRequests)
			}
		})
	}
}
