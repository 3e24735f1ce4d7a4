package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureTokenRefusesUnsafeFiles(t *testing.T) {
	good := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		symlink bool
		wantErr string // "" accepts
	}{
		{name: "a good token", content: good + "\n", mode: 0o600},
		{name: "no trailing newline", content: good, mode: 0o400},
		{name: "readable by others", content: good + "\n", mode: 0o644, wantErr: "chmod 600"},
		{name: "writable by everyone", content: good + "\n", mode: 0o666, wantErr: "chmod 600"},
		{name: "a symlink", content: good + "\n", mode: 0o600, symlink: true, wantErr: "not a regular file"},
		{name: "five characters", content: "abcde\n", mode: 0o600, wantErr: "too short"},
		{name: "two lines", content: good + "\n" + good + "\n", mode: 0o600, wantErr: "more than one line"},
		{name: "empty", content: "\n", mode: 0o600, wantErr: "is empty"},
		{name: "blanks", content: " " + good + "\n", mode: 0o600, wantErr: "blanks"},
		{name: "43 base64 characters are 256 bits", content: strings.Repeat("Zx9", 14) + "Q", mode: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "admin.token")
			file := path
			if tt.symlink {
				file = filepath.Join(dir, "elsewhere")
				if err := os.Symlink(file, path); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(file, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			token, err := ensureToken(path)
			if tt.wantErr == "" {
				if err != nil || token != strings.TrimSpace(tt.content) {
					t.Fatalf("ensureToken = %q, %v; want the token", token, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ensureToken err = %v, want one naming %s and %q", err, path, tt.wantErr)
			}
			if strings.Contains(err.Error(), good) {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

func TestEnsureTokenCreatesAnOwnerOnlyToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	token, err := ensureToken(path)
	if err != nil || len(token) != 64 {
		t.Fatalf("ensureToken = %q, %v", token, err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v, want mode 0600", info, err)
	}
	again, err := ensureToken(path)
	if err != nil || again != token {
		t.Errorf("second start read %q, %v; want the same token", again, err)
	}
}
