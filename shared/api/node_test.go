package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestNodeValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      string // JSON merged over validNode
		wantField string
	}{
		{name: "valid"},
		{name: "never connected, nothing installed", edit: `{"last_connected_unix":0,"installed_commit":"","agent_url":"","agent_version":"","host_key":"","host_key_fingerprint":""}`},
		{name: "tilde install path", edit: `{"install_path":"~/rbee"}`},
		{name: "bad name", edit: `{"node_name":"GPU 1"}`, wantField: "node_name"},
		{name: "port zero", edit: `{"ssh_port":0}`, wantField: "ssh_port"},
		{name: "agent port zero", edit: `{"agent_port":0}`, wantField: "agent_port"},
		{name: "empty branch", edit: `{"git_branch":""}`, wantField: "git_branch"},
		{name: "unknown status", edit: `{"status":"unknown"}`, wantField: "status"},
		{name: "empty status", edit: `{"status":""}`, wantField: "status"},
		{name: "host key garbage", edit: `{"host_key":"not a key"}`, wantField: "host_key"},
		{name: "short commit", edit: `{"installed_commit":"abc"}`, wantField: "installed_commit"},
		{name: "uppercase commit", edit: `{"installed_commit":"ABCDEF0"}`, wantField: "installed_commit"},
		{name: "agent url without scheme", edit: `{"agent_url":"10.0.0.7:7835"}`, wantField: "agent_url"},
		{name: "agent url file", edit: `{"agent_url":"file:///etc/passwd"}`, wantField: "agent_url"},
		{name: "agent version escape", edit: `{"agent_version":"v1\u001b[2J"}`, wantField: "agent_version"},
		{name: "negative time", edit: `{"created_unix":-1}`, wantField: "created_unix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := validNode()
			if tt.edit != "" {
				if err := json.Unmarshal([]byte(tt.edit), &n); err != nil {
					t.Fatalf("decode edit: %v", err)
				}
			}
			assertField(t, n.Validate(), tt.wantField)
		})
	}
}

func TestValidateStatus(t *testing.T) {
	for _, s := range Statuses() {
		assertField(t, ValidateStatus(s), "")
	}
	for _, s := range []string{"", "unknown", "Online", "online ", "offline;"} {
		assertField(t, ValidateStatus(s), "status")
	}
}

// TestNodeJSONCarriesNoSecret guards the rule that the hive token (or its
// hash) never leaves the registry layer.
func TestNodeJSONCarriesNoSecret(t *testing.T) {
	typ := reflect.TypeFor[Node]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "" {
			t.Errorf("field %s has no json tag", f.Name)
		}
		for _, word := range []string{"token", "hash", "secret", "password"} {
			if strings.Contains(strings.ToLower(f.Name+tag), word) {
				t.Errorf("field %s (json %q) looks like a secret", f.Name, tag)
			}
		}
	}
}

func TestNodeJSONShape(t *testing.T) {
	raw, err := json.Marshal(validNode())
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := []string{
		"node_name", "ssh_host", "ssh_port", "ssh_user", "ssh_key_path", "git_repo_url", "git_branch",
		"install_path", "agent_port", "status", "host_key", "host_key_fingerprint", "last_connected_unix",
		"installed_commit", "agent_url", "agent_version", "created_unix", "updated_unix",
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, raw)
		}
	}
	if len(got) != len(want) {
		t.Errorf("JSON has %d keys, want %d: %s", len(got), len(want), raw)
	}
}

// validNode returns a node that passes Validate.
func validNode() Node {
	return Node{
		NodeName: "gpu-1", SSHHost: "10.0.0.7", SSHPort: 22, SSHUser: "vince",
		SSHKeyPath: "/home/vince/.ssh/id_ed25519", GitRepoURL: "https://github.com/rbee-fleet/rbee.git",
		GitBranch: "main", InstallPath: "/home/vince/rbee", AgentPort: 7835, Status: StatusOnline,
		HostKey: ed25519Key, HostKeyFingerprint: ed25519Print, LastConnectedUnix: 1_760_000_000,
		InstalledCommit: "9e2061e0c1d2", AgentURL: "http://10.0.0.7:7835", AgentVersion: "9e2061e0c1d2",
		CreatedUnix: 1_759_000_000, UpdatedUnix: 1_760_000_000,
	}
}
