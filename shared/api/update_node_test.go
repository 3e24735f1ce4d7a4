package api

import (
	"encoding/json"
	"testing"
)

func TestUpdateNodeRequestValidate(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		wantField string
	}{
		{name: "one field", json: `{"git_branch":"dev"}`},
		{name: "clear user and key", json: `{"ssh_user":"","ssh_key_path":""}`},
		{name: "reset host key only", json: `{"reset_host_key":true}`},
		{name: "repin", json: `{"reset_host_key":true,"host_key_fingerprint":"` + ed25519Print + `"}`},
		{name: "empty", json: `{}`, wantField: "request"},
		{name: "only timeout", json: `{"connect_timeout_ms":1000}`, wantField: "request"},
		{name: "empty host", json: `{"ssh_host":""}`, wantField: "ssh_host"},
		{name: "zero port", json: `{"ssh_port":0}`, wantField: "ssh_port"},
		{name: "zero agent port", json: `{"agent_port":0}`, wantField: "agent_port"},
		{name: "empty branch", json: `{"git_branch":""}`, wantField: "git_branch"},
		{name: "empty install path", json: `{"install_path":""}`, wantField: "install_path"},
		{name: "hostile repo", json: `{"git_repo_url":"--upload-pack=id"}`, wantField: "git_repo_url"},
		{name: "host with newline", json: `{"ssh_host":"gpu\nProxyCommand id"}`, wantField: "ssh_host"},
		{name: "bad timeout", json: `{"ssh_port":22,"connect_timeout_ms":-5}`, wantField: "connect_timeout_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r UpdateNodeRequest
			if err := json.Unmarshal([]byte(tt.json), &r); err != nil {
				t.Fatalf("decode: %v", err)
			}
			assertField(t, r.Validate(), tt.wantField)
		})
	}
}

func TestUpdateNodeRequestApplyTo(t *testing.T) {
	var r UpdateNodeRequest
	if err := json.Unmarshal([]byte(`{"ssh_port":2222,"ssh_user":"","git_branch":"dev","reset_host_key":true}`), &r); err != nil {
		t.Fatalf("decode: %v", err)
	}
	n := Node{NodeName: "gpu-1", SSHHost: "h", SSHPort: 22, SSHUser: "vince", GitBranch: "main", AgentPort: 7835,
		HostKey: ed25519Key, HostKeyFingerprint: ed25519Print, InstallPath: "/opt/rbee"}
	r.ApplyTo(&n)
	want := Node{NodeName: "gpu-1", SSHHost: "h", SSHPort: 2222, SSHUser: "", GitBranch: "dev", AgentPort: 7835, InstallPath: "/opt/rbee"}
	if n != want {
		t.Errorf("after ApplyTo:\n got %+v\nwant %+v", n, want)
	}
}

func TestUpdateNodeRequestChangesConnection(t *testing.T) {
	tests := []struct {
		name string
		json string
		want bool
	}{
		{name: "host", json: `{"ssh_host":"h"}`, want: true},
		{name: "port", json: `{"ssh_port":22}`, want: true},
		{name: "user cleared", json: `{"ssh_user":""}`, want: true},
		{name: "key", json: `{"ssh_key_path":"/k"}`, want: true},
		{name: "fingerprint", json: `{"host_key_fingerprint":"` + ed25519Print + `"}`, want: true},
		{name: "reset", json: `{"reset_host_key":true}`, want: true},
		{name: "branch", json: `{"git_branch":"dev"}`, want: false},
		{name: "install path and agent port", json: `{"install_path":"/x","agent_port":9000}`, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r UpdateNodeRequest
			if err := json.Unmarshal([]byte(tt.json), &r); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got := r.ChangesConnection(); got != tt.want {
				t.Errorf("ChangesConnection() = %v, want %v", got, tt.want)
			}
		})
	}
}
