package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestPreflight(t *testing.T) {
	ready := api.PreflightReport{Node: "gpu-1", SSHOK: true, CommandOK: true, ConnectMS: 42, LatencyMS: 3,
		OS: "Linux", Arch: "x86_64", GitVersion: "git version 2.43.0", GoVersion: "go version go1.26.0 linux/amd64",
		InstallPath: "~/rbee", DiskFreeBytes: 13207024435}
	bare := api.PreflightReport{Node: "gpu-1", SSHOK: true, CommandOK: true, ConnectMS: 40, LatencyMS: 2,
		OS: "Linux", Arch: "aarch64", InstallPath: "/opt/rbee", DiskFreeBytes: 512 << 20,
		Problems: []string{
			"git is missing: install it on the node (e.g. `apt-get install git`)",
			"go is missing: install Go 1.26 on the node, or install with `--method upload`",
			"only 512 MiB free at /opt/rbee: free at least 1 GiB or pick another --install-path",
		}}
	commandFailed := api.PreflightReport{Node: "gpu-1", SSHOK: true, ConnectMS: 40, InstallPath: "/opt/rbee"}
	connectFailed := api.ErrorDetail{Code: api.CodeSSHConnectFailed, Message: "ssh to 10.0.0.7:22: connection timed out after 3 attempts",
		Hint: "check that the node is up and reachable"}

	tests := []struct {
		name     string
		report   *api.PreflightReport // nil: the stream ends with connectFailed
		json     bool
		wantOut  string
		wantErr  string
		wantHint string
	}{
		{
			name:   "ready",
			report: &ready,
			wantOut: "[gpu-1] SSH connection OK (42 ms)\n" +
				"[gpu-1] ✅ Preflight of 'gpu-1' done\n" +
				"Preflight of gpu-1:\n" +
				"  SSH connection:    ✅ OK (connect 42 ms)\n" +
				"  Command execution: ✅ OK\n" +
				"  Latency:           3 ms\n" +
				"  OS/arch:           Linux/x86_64\n" +
				"  git:               git version 2.43.0\n" +
				"  go:                go version go1.26.0 linux/amd64\n" +
				"  Free disk:         12.3 GiB at ~/rbee\n" +
				"✅ Ready to install\n",
		},
		{
			name:   "problems",
			report: &bare,
			wantOut: "[gpu-1] SSH connection OK (42 ms)\n" +
				"[gpu-1] ✅ Preflight of 'gpu-1' done\n" +
				"Preflight of gpu-1:\n" +
				"  SSH connection:    ✅ OK (connect 40 ms)\n" +
				"  Command execution: ✅ OK\n" +
				"  Latency:           2 ms\n" +
				"  OS/arch:           Linux/aarch64\n" +
				"  git:               missing\n" +
				"  go:                missing\n" +
				"  Free disk:         512.0 MiB at /opt/rbee\n" +
				"Problems:\n" +
				"  ❌ git is missing: install it on the node (e.g. `apt-get install git`)\n" +
				"  ❌ go is missing: install Go 1.26 on the node, or install with `--method upload`\n" +
				"  ❌ only 512 MiB free at /opt/rbee: free at least 1 GiB or pick another --install-path\n",
			wantErr:  `preflight failed: 3 problem(s) on node "gpu-1" would stop an install`,
			wantHint: "fix the problems listed above, then run `queen setup preflight` again",
		},
		{
			name:     "command failed",
			report:   &commandFailed,
			wantErr:  `preflight failed: SSH to node "gpu-1" does not work`,
			wantHint: "check the node's SSH settings with `queen setup list-nodes`, fix them with `queen setup update-node`",
		},
		{name: "SSH failed", wantOut: "[gpu-1] SSH connection OK (42 ms)\n", wantErr: connectFailed.Message, wantHint: connectFailed.Hint},
		{name: "SSH failed, json", json: true, wantErr: connectFailed.Message, wantHint: connectFailed.Hint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/hives/gpu-1/preflight" {
					t.Errorf("request = %s %s, want POST /v1/hives/gpu-1/preflight", r.Method, r.URL.Path)
				}
				last := api.ErrorEvent(1, "gpu-1", connectFailed)
				if tt.report != nil {
					last = doneEvent(t, "gpu-1", "✅ Preflight of 'gpu-1' done", *tt.report)
				}
				answerEvents(t, w, api.Event{Level: api.LevelInfo, Node: "gpu-1", Phase: "connect", Message: "SSH connection OK (42 ms)"}, last)
			})
			args := []string{"setup", "preflight", "--node", "gpu-1"}
			if tt.json {
				args = append(args, "--json")
			}
			res := runQueen(t, q.args(args...)...)
			if tt.wantErr == "" && res.err != nil {
				t.Fatalf("preflight: %v", res.err)
			}
			if tt.wantErr != "" {
				if res.err == nil || res.err.Error() != tt.wantErr || hintOf(res.err) != tt.wantHint {
					t.Fatalf("err = %v (hint %q), want %q (hint %q)", res.err, hintOf(res.err), tt.wantErr, tt.wantHint)
				}
			}
			if tt.json {
				if n := strings.Count(res.stdout, "\n"); n != 2 || !strings.HasPrefix(res.stdout, "{") {
					t.Errorf("stdout = %q, want the 2 events as NDJSON", res.stdout)
				}
				return
			}
			if tt.wantOut != "" && res.stdout != tt.wantOut {
				t.Errorf("stdout\n%s\nwant\n%s", res.stdout, tt.wantOut)
			}
		})
	}
}

func TestPreflightOfUnknownNode(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: `hive not found: "gpu-9"`})
	})
	res := runQueen(t, q.args("setup", "preflight", "--node", "gpu-9")...)
	if res.err == nil || res.err.Error() != `node "gpu-9" not found` {
		t.Fatalf("err = %v, want node \"gpu-9\" not found", res.err)
	}
	if h := hintOf(res.err); !strings.Contains(h, "`queen setup add-node --name gpu-9 --ssh-host HOST") {
		t.Errorf("hint = %q, want the add-node command that registers it", h)
	}
}
