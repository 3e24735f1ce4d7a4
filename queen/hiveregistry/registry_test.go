package hiveregistry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

func TestOpenCreatesPrivateFiles(t *testing.T) {
	r, path := openTemp(t)
	if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
		t.Fatalf("Add: %v", err)
	}
	assertMode(t, filepath.Dir(path), dirMode|os.ModeDir)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		assertMode(t, p, fileMode)
	}
}

func TestOpenTightensExistingFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beehives.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	assertMode(t, path, fileMode)
}

func TestOpenSettings(t *testing.T) {
	r, _ := openTemp(t)
	tests := []struct {
		name   string
		pragma string
		want   string
	}{
		{name: "wal", pragma: "journal_mode", want: "wal"},
		{name: "busy timeout", pragma: "busy_timeout", want: "5000"},
		{name: "foreign keys", pragma: "foreign_keys", want: "1"},
		{name: "synchronous full", pragma: "synchronous", want: "2"},
		{name: "application id", pragma: "application_id", want: strconv.Itoa(int(appID))},
		{name: "schema version", pragma: "user_version", want: strconv.Itoa(len(migrations))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pragma(t, r, tt.pragma); got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

func TestReopenKeepsRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beehives.db")
	r, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := r.SetHiveTokenHash(t.Context(), "gpu-1", "sha256:abc"); err != nil {
		t.Fatalf("SetHiveTokenHash: %v", err)
	}
	want, err := r.Get(t.Context(), "gpu-1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer r2.Close()
	got, err := r2.Get(t.Context(), "gpu-1")
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got != want {
		t.Errorf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	if h, err := r2.HiveTokenHash(t.Context(), "gpu-1"); err != nil || h != "sha256:abc" {
		t.Errorf("HiveTokenHash after reopen = %q, %v", h, err)
	}
	if got := pragma(t, r2, "user_version"); got != strconv.Itoa(len(migrations)) {
		t.Errorf("user_version after reopen = %s; migrations ran twice?", got)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data dir?x=1#frag", "bee%20hives.db")
	r, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
		t.Fatalf("Add: %v", err)
	}
	assertMode(t, path, fileMode)
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name    string
		content []byte // written to the file first; nil means make a foreign SQLite file
	}{
		{name: "not a database", content: []byte("this is not a database, just some text that is long enough....................................................")},
		{name: "another application's database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "beehives.db")
			writeFile(t, path, tt.content)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			r, err := Open(ctx, path)
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Open hung until the deadline instead of failing: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := Open(t.Context(), ""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
}

func TestIntegrityCheck(t *testing.T) {
	r, _ := openTemp(t)
	if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
		t.Fatalf("Add: %v", err)
	}
	got, err := r.IntegrityCheck(t.Context())
	if err != nil || got != "ok" {
		t.Errorf("IntegrityCheck() = %q, %v; want ok", got, err)
	}
}

// assertMode checks the permission bits (and directory bit) of path.
func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

// pragma returns the value of PRAGMA name on one of r's connections.
func pragma(t *testing.T, r *Registry, name string) string {
	t.Helper()
	pool := r.store.(*sqliteStore).pool
	conn, err := pool.Take(t.Context())
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	defer pool.Put(conn)
	var got string
	err = sqlitex.ExecuteTransient(conn, "PRAGMA "+name+";", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			got = stmt.ColumnText(0)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return got
}

// writeFile writes content to path, or, for nil content, creates a SQLite
// database that belongs to another application.
func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if content != nil {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	conn, err := sqlite.OpenConn(path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, "PRAGMA application_id = 42; CREATE TABLE other (x INTEGER);", nil); err != nil {
		t.Fatal(err)
	}
}
