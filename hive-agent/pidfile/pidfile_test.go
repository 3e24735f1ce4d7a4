package pidfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestForConfig(t *testing.T) {
	got := ForConfig("/opt/rbee agent/hive-agent.json")
	if want := "/opt/rbee agent/run/hive-agent.pid"; got != want {
		t.Errorf("ForConfig = %q, want %q", got, want)
	}
}

func TestWriteCreatesFolderAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "install dir", "run", "hive-agent.pid")
	if err := Write(path, 4242); err != nil {
		t.Fatalf("Write: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "4242\n" {
		t.Errorf("pid file holds %q, want %q", data, "4242\n")
	}
	assertMode(t, path, 0o644)
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("run folder holds %d entries, want only the pid file (a temp file left behind?)", len(entries))
	}
}

func TestWriteReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hive-agent.pid")
	if err := Write(path, 1); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, 777); err != nil {
		t.Fatal(err)
	}
	if pid, err := Read(path); err != nil || pid != 777 {
		t.Errorf("Read = %d, %v; want 777", pid, err)
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name     string
		written  int // 0: no file
		remove   int
		wantGone bool
	}{
		{name: "own pid", written: 100, remove: 100, wantGone: true},
		{name: "a newer agent's pid stays", written: 200, remove: 100, wantGone: false},
		{name: "no file", written: 0, remove: 100, wantGone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hive-agent.pid")
			if tt.written != 0 {
				if err := Write(path, tt.written); err != nil {
					t.Fatal(err)
				}
			}
			if err := Remove(path, tt.remove); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			_, err := os.Stat(path)
			if gone := os.IsNotExist(err); gone != tt.wantGone {
				t.Errorf("pid file gone = %v, want %v", gone, tt.wantGone)
			}
		})
	}
}

func TestReadGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hive-agent.pid")
	if err := os.WriteFile(path, []byte("not a pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil {
		t.Error("Read of garbage succeeded")
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}
