package main

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestTokenSources(t *testing.T) {
	tests := []struct {
		name      string
		flag      string // --token, "" for none
		env       string // RBEE_TOKEN, "" for unset
		file      string // content of <data-dir>/admin.token, "" for no file
		wantAuth  string // Authorization the queen gets
		wantErr   string
		wantNoTok bool
	}{
		{name: "flag", flag: testToken, wantAuth: "Bearer " + testToken},
		{name: "env", env: testToken, wantAuth: "Bearer " + testToken},
		{name: "file with newline", file: testToken + "\n", wantAuth: "Bearer " + testToken},
		{name: "flag beats env and file", flag: testToken, env: "env-token", file: "file-token\n", wantAuth: "Bearer " + testToken},
		{name: "env beats file", env: testToken, file: "file-token\n", wantAuth: "Bearer " + testToken},
		{name: "missing file", wantErr: "not found; start the queen once with `queen serve` (it creates the token) or pass --token", wantNoTok: true},
		{name: "empty file", file: "\n", wantErr: "admin.token is empty", wantNoTok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				answerJSON(w, http.StatusOK, api.HiveList{})
			})
			dataDir := t.TempDir()
			if tt.file != "" {
				writeFile(t, filepath.Join(dataDir, "admin.token"), tt.file, 0o600)
			}
			if tt.env != "" {
				t.Setenv("RBEE_TOKEN", tt.env)
			}
			args := []string{"--queen-url", q.url, "--data-dir", dataDir}
			if tt.flag != "" {
				args = append(args, "--token", tt.flag)
			}
			res := runQueen(t, append(args, "setup", "list-nodes")...)
			if tt.wantErr != "" {
				if res.err == nil || !strings.Contains(res.err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", res.err, tt.wantErr)
				}
				if errors.Is(res.err, errNoToken) != tt.wantNoTok {
					t.Errorf("errors.Is(err, errNoToken) = %v, want %v", errors.Is(res.err, errNoToken), tt.wantNoTok)
				}
				if want := "no admin token: " + filepath.Join(dataDir, "admin.token"); !strings.HasPrefix(res.err.Error(), want) {
					t.Errorf("err = %q, want it to start with %q", res.err, want)
				}
				if q.count() != 0 {
					t.Errorf("%d requests reached the queen, want 0", q.count())
				}
				return
			}
			if res.err != nil {
				t.Fatalf("list-nodes: %v", res.err)
			}
			if got := q.last(t).auth; got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
		})
	}
}

func TestRejectedTokenNamesItsSource(t *testing.T) {
	const wrong = "wrong-token-0123456789"
	tests := []struct {
		name       string
		flag, env  string
		file       bool
		wantSource string // "" means the file's path
	}{
		{name: "flag", flag: wrong, env: "also-" + wrong, wantSource: "--token flag"},
		{name: "env", env: wrong, wantSource: "RBEE_TOKEN"},
		{name: "file", file: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				t.Error("a wrong token got through")
			})
			dataDir := t.TempDir()
			tokenPath := filepath.Join(dataDir, "admin.token")
			if tt.file {
				writeFile(t, tokenPath, wrong+"\n", 0o600)
			}
			if tt.env != "" {
				t.Setenv("RBEE_TOKEN", tt.env)
			}
			args := []string{"--queen-url", q.url, "--data-dir", dataDir}
			if tt.flag != "" {
				args = append(args, "--token", tt.flag)
			}
			res := runQueen(t, append(args, "setup", "remove-node", "--name", "gpu-1")...)
			source := tt.wantSource
			if source == "" {
				source = tokenPath
			}
			want := "queen at " + q.url + " rejected the admin token from " + source
			if res.err == nil || res.err.Error() != want {
				t.Fatalf("err = %v, want %q", res.err, want)
			}
			hint := hintOf(res.err)
			if hint == "" {
				t.Error("no hint")
			}
			for _, text := range []string{res.err.Error(), hint, res.stdout, res.stderr} {
				if strings.Contains(text, wrong) {
					t.Errorf("output %q shows the token", text)
				}
			}
		})
	}
}
