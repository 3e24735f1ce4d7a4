package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDBBackupAndDamagedRegistry backs up the registry of a running queen,
// then damages the registry: queen serve refuses to start and says how to
// restore, and the restored backup serves again.
func TestDBBackupAndDamagedRegistry(t *testing.T) {
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)
	backup := filepath.Join(t.TempDir(), "registry-backup.db")
	r := runCLI(t, d, nil, "db", "backup", backup)
	if r.code != 0 || !strings.Contains(r.stdout, "restore it with") {
		t.Fatalf("db backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, d, nil, "db", "backup", backup); r.code != 1 || !strings.Contains(r.stderr, "never overwrites") {
		t.Errorf("second backup to the same file: exit %d\n%s", r.code, r.stderr)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("queen exit %d", code)
	}

	db := filepath.Join(dataDir, dbFile)
	damage(t, db)
	out, err := exec.Command(buildQueen(t), "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "damaged") || !strings.Contains(string(out), "queen db backup") {
		t.Fatalf("serve on a damaged registry: %v\n%s\nwant a refusal naming the restore", err, out)
	}

	restored := exec.Command("cp", backup, db)
	if out, err := restored.CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	startDaemon(t, dataDir) // fails the test unless it serves
}

// damage overwrites every page of the registry file but the first (the
// schema) with garbage.
func damage(t *testing.T, db string) {
	t.Helper()
	data, err := os.ReadFile(db)
	if err != nil || len(data) < 2*4096 {
		t.Fatalf("registry file: %d bytes, %v", len(data), err)
	}
	for i := 4096; i < len(data); i++ {
		data[i] = 0x5A
	}
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
