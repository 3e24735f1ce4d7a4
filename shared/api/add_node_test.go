package api

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAddNodeRequestDefaults(t *testing.T) {
	r := AddNodeRequest{Name: "gpu-1", SSHHost: "10.0.0.7", GitRepoURL: "https://github.com/rbee-fleet/rbee.git", InstallPath: "~/rbee"}
	r.Defaults()
	want := AddNodeRequest{
		Name: "gpu-1", SSHHost: "10.0.0.7", SSHPort: 22, GitRepoURL: "https://github.com/rbee-fleet/rbee.git",
		GitBranch: "main", InstallPath: "~/rbee", AgentPort: 7835, ConnectTimeoutMS: 10_000,
	}
	if r != want {
		t.Errorf("after Defaults:\n got %+v\nwant %+v", r, want)
	}
	kept := AddNodeRequest{SSHPort: 2222, GitBranch: "dev", AgentPort: 9000, ConnectTimeoutMS: 500}
	kept.Defaults()
	if kept.SSHPort != 2222 || kept.GitBranch != "dev" || kept.AgentPort != 9000 || kept.ConnectTimeoutMS != 500 {
		t.Errorf("Defaults overwrote given values: %+v", kept)
	}
}

func TestAddNodeRequestValidate(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		wantField string
	}{
		{name: "minimal", json: `{"name":"gpu-1","ssh_host":"gpu-1.lab","git_repo_url":"https://github.com/rbee-fleet/rbee.git","install_path":"~/rbee"}`},
		{name: "everything", json: `{"name":"workstation.home.arpa","ssh_host":"10.0.0.7","ssh_port":2222,"ssh_user":"vince","ssh_key_path":"/home/vince/.ssh/id_ed25519","git_repo_url":"git@github.com:rbee-fleet/rbee.git","git_branch":"feature/ssh","install_path":"/opt/rbee","agent_port":9000,"host_key_fingerprint":"` + ed25519Print + `","connect_timeout_ms":2500}`},
		{name: "bad name", json: `{"name":"Bad_Name","ssh_host":"h","git_repo_url":"https://h/r","install_path":"/r"}`, wantField: "name"},
		{name: "missing host", json: `{"name":"a","git_repo_url":"https://h/r","install_path":"/r"}`, wantField: "ssh_host"},
		{name: "port too high", json: `{"name":"a","ssh_host":"h","ssh_port":65536,"git_repo_url":"https://h/r","install_path":"/r"}`, wantField: "ssh_port"},
		{name: "hostile user", json: `{"name":"a","ssh_host":"h","ssh_user":"root;id","git_repo_url":"https://h/r","install_path":"/r"}`, wantField: "ssh_user"},
		{name: "relative key", json: `{"name":"a","ssh_host":"h","ssh_key_path":"id_rsa","git_repo_url":"https://h/r","install_path":"/r"}`, wantField: "ssh_key_path"},
		{name: "ext repo", json: `{"name":"a","ssh_host":"h","git_repo_url":"ext::sh -c id","install_path":"/r"}`, wantField: "git_repo_url"},
		{name: "bad branch", json: `{"name":"a","ssh_host":"h","git_repo_url":"https://h/r","git_branch":"a..b","install_path":"/r"}`, wantField: "git_branch"},
		{name: "newline path", json: `{"name":"a","ssh_host":"h","git_repo_url":"https://h/r","install_path":"/r\n/x"}`, wantField: "install_path"},
		{name: "agent port negative", json: `{"name":"a","ssh_host":"h","git_repo_url":"https://h/r","install_path":"/r","agent_port":-1}`, wantField: "agent_port"},
		{name: "bad fingerprint", json: `{"name":"a","ssh_host":"h","git_repo_url":"https://h/r","install_path":"/r","host_key_fingerprint":"MD5:aa"}`, wantField: "host_key_fingerprint"},
		{name: "timeout too short", json: `{"name":"a","ssh_host":"h","git_repo_url":"https://h/r","install_path":"/r","connect_timeout_ms":99}`, wantField: "connect_timeout_ms"},
		{name: "timeout too long", json: `{"name":"a","ssh_host":"h","git_repo_url":"https://h/r","install_path":"/r","connect_timeout_ms":300001}`, wantField: "connect_timeout_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r AddNodeRequest
			if err := json.Unmarshal([]byte(tt.json), &r); err != nil {
				t.Fatalf("decode: %v", err)
			}
			assertField(t, r.Validate(), tt.wantField)
		})
	}
}

func TestAddNodeRequestValidateReportsEveryField(t *testing.T) {
	err := AddNodeRequest{Name: "-", SSHHost: "-x", GitRepoURL: "x", InstallPath: "rel"}.Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() = %v, want the joined errors of every field", err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if errors.As(e, &fe) {
			got = append(got, fe.Field)
		}
	}
	want := []string{"name", "ssh_host", "git_repo_url", "install_path"}
	if len(got) != len(want) {
		t.Fatalf("fields = %v, want %v (%v)", got, want, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i], want[i])
		}
	}
}
