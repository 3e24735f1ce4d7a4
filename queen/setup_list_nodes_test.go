package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestListNodes(t *testing.T) {
	twoNodes := api.HiveList{Nodes: []api.Node{
		{
			NodeName: "gpu-1", SSHHost: "10.0.0.7", SSHPort: 22, SSHUser: "vince", SSHKeyPath: "/home/vince/.ssh/id_ed25519",
			GitRepoURL: "https://github.com/rbee-fleet/rbee.git", GitBranch: "main", InstallPath: "/home/vince/rbee",
			Status: api.StatusOnline, LastConnectedUnix: 1728483735, InstalledCommit: "3ec008fd1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d",
			HostKeyFingerprint: "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
			LastInstall: api.InstallRecord{Result: api.ResultFailed, Phase: "get binary", Error: "get binary: build: exit 1",
				Hint: "fix the cause above", FinishedUnix: time.Now().Add(-72*time.Hour - 30*time.Minute).Unix()},
		},
		{
			NodeName: "workstation", SSHHost: "ws.lan", SSHPort: 2222, GitRepoURL: "git@git.example.org:rbee.git",
			GitBranch: "release/1.2", InstallPath: "~/rbee", Status: api.StatusUnreachable,
		},
	}}
	tests := []struct {
		name string
		list api.HiveList
		json bool
		want string
	}{
		{
			name: "none",
			want: "No nodes registered. Add one with: queen setup add-node --name NAME --ssh-host HOST --git-repo URL --install-path PATH\n",
		},
		{
			name: "two",
			list: twoNodes,
			want: "Registered hive nodes:\n" +
				"────────────────────────────────────────────────────────────────────────────────\n" +
				"gpu-1 (vince@10.0.0.7:22)\n" +
				"  Status:            online\n" +
				"  Last connected:    2024-10-09 14:22:15 UTC\n" +
				"  Git:               https://github.com/rbee-fleet/rbee.git (main)\n" +
				"  Install path:      /home/vince/rbee\n" +
				"  Installed commit:  3ec008fd1c2b\n" +
				"  Last install:      failed in \"get binary\" 3d00h ago\n" +
				"  SSH key:           /home/vince/.ssh/id_ed25519\n" +
				"  Host key:          SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8\n" +
				"\n" +
				"workstation (ws.lan:2222)\n" +
				"  Status:            unreachable\n" +
				"  Last connected:    never\n" +
				"  Git:               git@git.example.org:rbee.git (release/1.2)\n" +
				"  Install path:      ~/rbee\n" +
				"  Host key:          not pinned yet\n",
		},
		{name: "none, json", json: true, want: "{\n  \"nodes\": []\n}\n"},
		{name: "two, json", list: twoNodes, json: true, want: mustIndent(t, twoNodes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/v1/hives" {
					t.Errorf("request = %s %s, want GET /v1/hives", r.Method, r.URL.Path)
				}
				answerJSON(w, http.StatusOK, tt.list)
			})
			args := []string{"setup", "list-nodes"}
			if tt.json {
				args = append(args, "--json")
			}
			res := runQueen(t, q.args(args...)...)
			if res.err != nil {
				t.Fatalf("list-nodes: %v", res.err)
			}
			if res.stdout != tt.want {
				t.Errorf("stdout\n%s\nwant\n%s", res.stdout, tt.want)
			}
		})
	}
}

// mustIndent returns v as list-nodes --json prints it.
func mustIndent(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}
