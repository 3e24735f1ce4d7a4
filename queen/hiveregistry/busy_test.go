package hiveregistry

import (
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestBusyTimeoutAndIsBusy: while another connection holds the file's
// write lock, a write waits the busy timeout SetBusyTimeout set (not the
// 5 s of Open) and fails with an error IsBusy recognises; a read still
// works (WAL), other errors are not busy, and once the lock is gone the
// write goes through.
func TestBusyTimeoutAndIsBusy(t *testing.T) {
	r, path := openTemp(t)
	if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
		t.Fatal(err)
	}
	if err := r.SetBusyTimeout(t.Context(), 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := sqlitex.ExecuteTransient(other, "BEGIN IMMEDIATE;", nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = r.SetStatus(t.Context(), "gpu-1", api.StatusOffline, nil)
	if took := time.Since(start); !IsBusy(err) || took < 100*time.Millisecond || took > 3*time.Second {
		t.Errorf("write under another's lock: %v after %v, want busy after about 150 ms", err, took)
	}
	if _, err := r.Get(t.Context(), "gpu-1"); err != nil {
		t.Errorf("read under another's write lock: %v", err)
	}
	if _, err := r.Get(t.Context(), "gpu-none"); IsBusy(err) || IsBusy(nil) {
		t.Errorf("not found or nil counted as busy: %v", err)
	}
	if err := sqlitex.ExecuteTransient(other, "ROLLBACK;", nil); err != nil {
		t.Fatal(err)
	}
	if err := r.SetStatus(t.Context(), "gpu-1", api.StatusOffline, nil); err != nil {
		t.Errorf("write after the lock is gone: %v", err)
	}
}
