package agentconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    []string // substrings of the error; none means success
	}{
		{
			name:    "as written by the queen",
			content: `{"node_name":"gpu-1","queen_url":"http://10.0.0.1:7833","hive_token":"` + testToken + `","listen":"0.0.0.0:7835","worker_port_min":8081,"worker_port_max":8999}`,
			mode:    0o600,
		},
		{
			name:    "unknown fields from a newer queen are ignored",
			content: `{"node_name":"gpu-1","queen_url":"http://10.0.0.1:7833","hive_token":"` + testToken + `","listen":"0.0.0.0:7835","gpu_policy":{"max":2}}`,
			mode:    0o400,
		},
		{
			name:    "readable by others",
			content: `{"node_name":"gpu-1","queen_url":"http://10.0.0.1:7833","hive_token":"` + testToken + `"}`,
			mode:    0o644,
			want:    []string{"mode 0644", "chmod 600"},
		},
		{
			name:    "writable by group",
			content: `{"node_name":"gpu-1","queen_url":"http://10.0.0.1:7833","hive_token":"` + testToken + `"}`,
			mode:    0o620,
			want:    []string{"mode 0620", "chmod 600"},
		},
		{
			name:    "broken JSON does not echo the file",
			content: `{"node_name":"gpu-1","hive_token":"` + testToken + `" "queen_url":"x"}`,
			mode:    0o600,
			want:    []string{"syntax error at byte", "queen setup install --node <node>"},
		},
		{
			name:    "trailing garbage after the object",
			content: `{"node_name":"gpu-1","queen_url":"http://10.0.0.1:7833","hive_token":"` + testToken + `","listen":"0.0.0.0:7835"} {"hive_token":"x"}`,
			mode:    0o600,
			want:    []string{"more after the JSON object", "queen setup install --node gpu-1"},
		},
		{
			name:    "trailing blanks are fine",
			content: `{"node_name":"gpu-1","queen_url":"http://10.0.0.1:7833","hive_token":"` + testToken + `","listen":"0.0.0.0:7835"}` + "\n\n  \n",
			mode:    0o600,
		},
		{
			name:    "empty file",
			content: ``,
			mode:    0o600,
			want:    []string{"empty"},
		},
		{
			name:    "wrong type",
			content: `{"node_name":"gpu-1","worker_port_min":"8081"}`,
			mode:    0o600,
			want:    []string{`"worker_port_min" must be int`},
		},
		{
			name:    "invalid fields name the node's reinstall",
			content: `{"node_name":"gpu-1","queen_url":"10.0.0.1:7833","hive_token":"` + testToken + `"}`,
			mode:    0o600,
			want:    []string{"invalid queen_url", "queen setup install --node gpu-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "install dir", "hive-agent.json")
			writeFile(t, path, tt.content, tt.mode)
			cfg, err := Load(path)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if cfg.NodeName != "gpu-1" || cfg.HiveToken != testToken || cfg.WorkerPortMin != 8081 || cfg.WorkerPortMax != 8999 {
					t.Errorf("Load gave %+v", cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error shows the hive token: %v", err)
			}
		})
	}
}

func TestLoadModeErrorIsTyped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hive-agent.json")
	writeFile(t, path, `{}`, 0o604)
	_, err := Load(path)
	me, ok := errors.AsType[*ModeError](err)
	if !ok {
		t.Fatalf("Load returned %v, want a *ModeError", err)
	}
	if me.Path != path || me.Mode != 0o604 {
		t.Errorf("ModeError = %+v", me)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hive-agent.json")
	_, err := Load(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "--config") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is cut by the umask
		t.Fatal(err)
	}
}
