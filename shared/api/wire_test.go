package api

import (
	"encoding/json"
	"testing"
)

func TestWireJSON(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{
			name:  "error body",
			value: ErrorBody{Error: ErrorDetail{Code: CodeInvalidField, Message: `invalid name "Bad_Name": …`, Hint: "pick a DNS-safe name"}},
			want:  `{"error":{"code":"INVALID_FIELD","message":"invalid name \"Bad_Name\": …","hint":"pick a DNS-safe name"}}`,
		},
		{
			name:  "error body without hint",
			value: ErrorBody{Error: ErrorDetail{Code: CodeInternal, Message: "x"}},
			want:  `{"error":{"code":"INTERNAL","message":"x"}}`,
		},
		{
			name:  "health",
			value: Health{Status: HealthAlive, Version: "9e2061e0c1d2", APIVersion: "v1"},
			want:  `{"status":"alive","version":"9e2061e0c1d2","api_version":"v1"}`,
		},
		{
			name:  "add node after defaults",
			value: AddNodeRequest{Name: "gpu-1", SSHHost: "h", SSHPort: 22, GitRepoURL: "https://h/r", GitBranch: "main", InstallPath: "~/rbee", AgentPort: 7835},
			want:  `{"name":"gpu-1","ssh_host":"h","ssh_port":22,"git_repo_url":"https://h/r","git_branch":"main","install_path":"~/rbee","agent_port":7835}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(tt.value)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if string(raw) != tt.want {
				t.Errorf("JSON =\n%s\nwant\n%s", raw, tt.want)
			}
		})
	}
}
