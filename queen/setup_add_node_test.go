package main

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestAddNodeChecksKeyBeforeContactingQueen(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	keys := filepath.Join(home, "my keys")
	writeFile(t, filepath.Join(keys, "id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o600)
	writeFile(t, filepath.Join(keys, "id_shared"), "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o644)
	writeFile(t, filepath.Join(keys, "id_group"), "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o640)
	writeFile(t, filepath.Join(home, ".ssh", "id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o600)

	tests := []struct {
		name     string
		key      string
		wantPath string // ssh_key_path the queen gets; "" when the command fails first
		wantErr  string
		wantHint string
	}{
		{name: "good key", key: filepath.Join(keys, "id_ed25519"), wantPath: filepath.Join(keys, "id_ed25519")},
		{name: "tilde expanded locally", key: "~/.ssh/id_ed25519", wantPath: filepath.Join(home, ".ssh", "id_ed25519")},
		{name: "no key means ssh-agent", key: "", wantPath: ""},
		{
			name:     "missing",
			key:      "~/.ssh/id_rsa",
			wantErr:  "SSH key not found: " + filepath.Join(home, ".ssh", "id_rsa"),
			wantHint: "check the path, or omit --ssh-key to use ssh-agent",
		},
		{
			name:     "readable by others",
			key:      filepath.Join(keys, "id_shared"),
			wantErr:  "SSH key " + filepath.Join(keys, "id_shared") + " is accessible by others (mode 0644)",
			wantHint: "chmod 600 '" + filepath.Join(keys, "id_shared") + "'",
		},
		{
			name:     "readable by group",
			key:      filepath.Join(keys, "id_group"),
			wantErr:  "SSH key " + filepath.Join(keys, "id_group") + " is accessible by others (mode 0640)",
			wantHint: "chmod 600 '" + filepath.Join(keys, "id_group") + "'",
		},
		{
			name:     "a directory",
			key:      keys,
			wantErr:  "SSH key " + keys + " is a directory",
			wantHint: "give the private key file, e.g. ~/.ssh/id_ed25519",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				var req api.AddNodeRequest
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
					t.Errorf("decode: %v", err)
				}
				answerEvents(t, w, doneEvent(t, "gpu-1", "✅ SSH connection successful! Node 'gpu-1' saved to registry", api.Node{NodeName: req.Name, SSHKeyPath: req.SSHKeyPath}))
			})
			args := addNodeArgs("--ssh-key", tt.key)
			if tt.key == "" {
				args = addNodeArgs()
			}
			res := runQueen(t, q.args(args...)...)
			if tt.wantErr != "" {
				if res.err == nil || res.err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", res.err, tt.wantErr)
				}
				if h := hintOf(res.err); h != tt.wantHint {
					t.Errorf("hint = %q, want %q", h, tt.wantHint)
				}
				if q.count() != 0 {
					t.Errorf("%d requests reached the queen, want 0", q.count())
				}
				return
			}
			if res.err != nil {
				t.Fatalf("add-node: %v", res.err)
			}
			var got api.AddNodeRequest
			if err := json.Unmarshal(q.last(t).body, &got); err != nil {
				t.Fatal(err)
			}
			if got.SSHKeyPath != tt.wantPath {
				t.Errorf("ssh_key_path = %q, want %q", got.SSHKeyPath, tt.wantPath)
			}
		})
	}
}

func TestAddNodeRequestFromFlags(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
		want  api.AddNodeRequest
	}{
		{
			// No port: the queen takes the Port of an ~/.ssh/config alias, else 22.
			name: "defaults",
			want: api.AddNodeRequest{Name: "gpu-1", SSHHost: "127.0.0.1", SSHPort: 0, GitRepoURL: "https://git.example.org/rbee.git",
				GitBranch: "main", InstallPath: "~/rbee", AgentPort: 7835, ConnectTimeoutMS: 10000},
		},
		{
			name: "every flag",
			extra: []string{"--ssh-port", "2222", "--ssh-user", "vince", "--git-branch", "release/1.2", "--agent-port", "9200",
				"--host-key-fingerprint", "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8", "--connect-timeout", "2.5s"},
			want: api.AddNodeRequest{Name: "gpu-1", SSHHost: "127.0.0.1", SSHPort: 2222, SSHUser: "vince", GitRepoURL: "https://git.example.org/rbee.git",
				GitBranch: "release/1.2", InstallPath: "~/rbee", AgentPort: 9200,
				HostKeyFingerprint: "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8", ConnectTimeoutMS: 2500},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				answerEvents(t, w, doneEvent(t, "gpu-1", "✅ saved", api.Node{NodeName: "gpu-1"}))
			})
			if res := runQueen(t, q.args(addNodeArgs(tt.extra...)...)...); res.err != nil {
				t.Fatalf("add-node: %v", res.err)
			}
			var got api.AddNodeRequest
			if err := json.Unmarshal(q.last(t).body, &got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("request = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

func TestAddNodeValidatesFlagsLocally(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantErr  string
		wantHint string
	}{
		{name: "bad name", args: []string{"setup", "add-node", "--name", "GPU 1", "--ssh-host", "h", "--git-repo", "https://git.example.org/rbee.git", "--install-path", "/opt/rbee"},
			wantErr: `check the add-node flags: invalid name "GPU 1"`, wantHint: "fix --name and run the command again"},
		{name: "bad port and timeout", args: addNodeArgs("--ssh-port", "70000", "--connect-timeout", "1ms"),
			wantErr: "check the add-node flags: invalid ssh_port", wantHint: "fix --ssh-port, --connect-timeout and run the command again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {})
			res := runQueen(t, q.args(tt.args...)...)
			if res.err == nil || !strings.HasPrefix(res.err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to start with %q", res.err, tt.wantErr)
			}
			if h := hintOf(res.err); h != tt.wantHint {
				t.Errorf("hint = %q, want %q", h, tt.wantHint)
			}
			if q.count() != 0 {
				t.Errorf("%d requests reached the queen, want 0", q.count())
			}
		})
	}
}

func TestAddNodePrintsEvents(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerEvents(t, w,
			api.Event{Level: api.LevelInfo, Message: "🔌 Testing SSH connection to 127.0.0.1:2222"},
			api.Event{Level: api.LevelWarn, Message: "⏳ Attempt 1/3 failed: connection refused (retrying in 200ms)", Attempt: 1, Attempts: 3},
			api.Event{Level: api.LevelError, Node: "gpu-1", Message: "❌ ssh-agent has no keys"},
			api.Event{Level: api.LevelInfo, Node: "gpu-1", Phase: "connect", Message: "🔑 Host key pinned: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8", ElapsedMS: 3200},
			doneEvent(t, "", "✅ SSH connection successful! Node 'gpu-1' saved to registry", api.Node{NodeName: "gpu-1"}),
		)
	})
	res := runQueen(t, q.args(addNodeArgs()...)...)
	if res.err != nil {
		t.Fatalf("add-node: %v", res.err)
	}
	wantOut := "[queen] 🔌 Testing SSH connection to 127.0.0.1:2222\n" +
		"[queen] ⏳ Attempt 1/3 failed: connection refused (retrying in 200ms)\n" +
		"[gpu-1] 🔑 Host key pinned: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8 (3.2s)\n" +
		"[queen] ✅ SSH connection successful! Node 'gpu-1' saved to registry\n"
	if res.stdout != wantOut {
		t.Errorf("stdout\n%s\nwant\n%s", res.stdout, wantOut)
	}
	if want := "[gpu-1] ❌ ssh-agent has no keys\n"; res.stderr != want {
		t.Errorf("stderr = %q, want %q", res.stderr, want)
	}
}

func TestAddNodeFinalError(t *testing.T) {
	detail := api.ErrorDetail{Code: api.CodeSSHConnectFailed,
		Message: "ssh to 127.0.0.1:2222: connection refused after 3 attempts",
		Hint:    "check that sshd runs on the node and that --ssh-host and --ssh-port are right"}
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerEvents(t, w,
			api.Event{Level: api.LevelInfo, Node: "gpu-1", Message: "🔌 Testing SSH connection to 127.0.0.1:2222"},
			api.ErrorEvent(1, "gpu-1", detail))
	})
	t.Run("human", func(t *testing.T) {
		res := runQueen(t, q.args(addNodeArgs()...)...)
		if res.err == nil || res.err.Error() != detail.Message || hintOf(res.err) != detail.Hint {
			t.Fatalf("err = %v (hint %q), want %q (hint %q)", res.err, hintOf(res.err), detail.Message, detail.Hint)
		}
		if want := "[gpu-1] 🔌 Testing SSH connection to 127.0.0.1:2222\n"; res.stdout != want {
			t.Errorf("stdout = %q, want %q", res.stdout, want)
		}
		if res.stderr != "" {
			t.Errorf("stderr = %q, want it empty (main prints the error)", res.stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		res := runQueen(t, q.args(addNodeArgs("--json")...)...)
		if res.err == nil || res.err.Error() != detail.Message {
			t.Fatalf("err = %v, want %q", res.err, detail.Message)
		}
		lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("stdout has %d lines, want 2 events:\n%s", len(lines), res.stdout)
		}
		var last api.Event
		if err := json.Unmarshal([]byte(lines[1]), &last); err != nil || last.Error == nil || *last.Error != detail {
			t.Errorf("last line = %s (%v), want the error event", lines[1], err)
		}
	})
}

func TestAddNodeJSONPassesEventsThrough(t *testing.T) {
	stream := `{"time_unix_ms":1760000000000,"level":"info","node":"gpu-1","phase":"connect","message":"🔌 Testing SSH connection to 127.0.0.1:2222"}` + "\n" +
		`{"time_unix_ms":1760000000450,"level":"info","node":"gpu-1","message":"✅ SSH connection successful! Node 'gpu-1' saved to registry","done":true,"result":{"node_name":"gpu-1","status":"reachable"}}` + "\n"
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.ContentTypeNDJSON)
		_, _ = w.Write([]byte(stream))
	})
	res := runQueen(t, q.args(addNodeArgs("--json")...)...)
	if res.err != nil {
		t.Fatalf("add-node --json: %v", res.err)
	}
	if res.stdout != stream {
		t.Errorf("stdout\n%s\nwant\n%s", res.stdout, stream)
	}
}

func TestQueenNotRunning(t *testing.T) {
	clearQueenEnv(t)
	dataDir := t.TempDir()
	writeFile(t, filepath.Join(dataDir, "admin.token"), testToken+"\n", 0o600)
	url := closedPortURL(t)
	res := runQueen(t, append([]string{"--queen-url", url, "--data-dir", dataDir}, addNodeArgs()...)...)
	want := "cannot reach queen at " + url + ": connection refused; start it with `queen serve` or pass --queen-url"
	if res.err == nil || res.err.Error() != want {
		t.Fatalf("err = %v, want %q", res.err, want)
	}
}

// addNodeArgs returns a valid add-node command line followed by extra.
func addNodeArgs(extra ...string) []string {
	return append([]string{"setup", "add-node", "--name", "gpu-1", "--ssh-host", "127.0.0.1",
		"--git-repo", "https://git.example.org/rbee.git", "--install-path", "~/rbee"}, extra...)
}

// closedPortURL returns the URL of a local port nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
