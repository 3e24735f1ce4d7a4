package hiveregistry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenStoreSpecs: the two SQLite forms open the same file Open does;
// anything else is refused naming both accepted forms, and a password in
// the spec never reaches the error.
func TestOpenStoreSpecs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rbee", "beehives.db")
	for i, spec := range []string{"sqlite:" + path, path} {
		r, err := OpenStore(t.Context(), spec, Options{})
		if err != nil {
			t.Fatalf("OpenStore(%s): %v", spec, err)
		}
		if _, ok := r.store.(*sqliteStore); !ok {
			t.Errorf("OpenStore(%s) opened a %T", spec, r.store)
		}
		if err := r.Add(t.Context(), sampleNode(t, fmt.Sprintf("gpu-%d", i))); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	r, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if nodes, err := r.List(t.Context()); err != nil || len(nodes) != 2 {
		t.Errorf("the file holds %d nodes (%v), want the 2 added through both specs", len(nodes), err)
	}
	for _, spec := range []string{"", "sqlite:", "mysql://root:hunter2@127.0.0.1/rbee", "http://queen:7833"} {
		_, err := OpenStore(t.Context(), spec, Options{})
		if err == nil || !strings.Contains(err.Error(), "sqlite:<path>") || !strings.Contains(err.Error(), "postgres://") {
			t.Errorf("OpenStore(%q) = %v, want an error naming both forms", spec, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestOpenStoreUnreachablePostgres: a server that is not there fails the
// opening at once, busy (try again later), without the password.
func TestOpenStoreUnreachablePostgres(t *testing.T) {
	for _, dsn := range []string{
		"postgres://rbee:hunter2@127.0.0.1:1/rbee?connect_timeout=5",
		"postgresql://rbee@127.0.0.1:1/rbee?password=hunter2&connect_timeout=5",
	} {
		_, err := OpenStore(t.Context(), dsn, Options{})
		if err == nil {
			t.Fatalf("OpenStore(%s) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
		if !IsBusy(err) {
			t.Errorf("no server: %v, want IsBusy", err)
		}
	}
}

// TestOpenStoreBadDSN: a DSN pgx cannot parse is refused, not busy, with
// where to read the syntax and without the password.
func TestOpenStoreBadDSN(t *testing.T) {
	_, err := OpenStore(t.Context(), "postgres://rbee:hunter2@db.example:port/rbee", Options{})
	if err == nil || IsBusy(err) || !strings.Contains(err.Error(), "DSN syntax") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("OpenStore of a bad DSN: %v", err)
	}
}

// TestBackupRefusesPostgres: `queen db backup` of a PostgreSQL registry
// says to use pg_dump and creates nothing.
func TestBackupRefusesPostgres(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "backup.db")
	err := Backup(t.Context(), "postgres://rbee:hunter2@db.example/rbee", dst)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Backup of a DSN: %v, want a refusal naming pg_dump without the password", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup file left behind: %v", err)
	}
}

// TestBackupAcceptsSQLiteSpec: the sqlite: form works as a bare path.
func TestBackupAcceptsSQLiteSpec(t *testing.T) {
	r, path := openTemp(t)
	if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "backup.db")
	if err := Backup(t.Context(), "sqlite:"+path, dst); err != nil {
		t.Fatalf("Backup(sqlite:%s): %v", path, err)
	}
	b, err := Open(t.Context(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Get(t.Context(), "gpu-1"); err != nil {
		t.Errorf("the backup lacks gpu-1: %v", err)
	}
}
