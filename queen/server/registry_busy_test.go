package server_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// TestRegistryBusyIs503: while another connection holds the write lock of
// the registry file (BEGIN IMMEDIATE, as a second process would), admin
// routes that write wait out the busy timeout and answer 503
// REGISTRY_BUSY with Retry-After: 1, not 500; once the lock is gone the
// same request works.
func TestRegistryBusyIs503(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "beehives.db")
	reg, err := hiveregistry.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if err := reg.SetBusyTimeout(t.Context(), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	q := startRouteQueen(t, reg, server.Config{})
	addHive(t, reg, "gpu-1", api.StatusReachable)
	unlock := holdWriteLock(t, dbPath)

	branch := "dev"
	tests := []struct {
		name, method, path string
		body               any
	}{
		{"update-node", "PATCH", "/v1/hives/gpu-1", api.UpdateNodeRequest{GitBranch: &branch}},
		{"remove-node", "DELETE", "/v1/hives/gpu-1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := q.must(t, tt.method, tt.path, bearerAuth(token), tt.body)
			d := wantError(t, r, http.StatusServiceUnavailable, api.CodeRegistryBusy)
			if got := r.header.Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After %q, want 1", got)
			}
			if !strings.Contains(d.Message, "registry is busy") || d.Hint == "" {
				t.Errorf("error %+v, want the registry named busy and a hint", d)
			}
		})
	}
	unlock()
	t.Run("after the lock is gone the update works", func(t *testing.T) {
		if r := q.must(t, "PATCH", "/v1/hives/gpu-1", bearerAuth(token), tests[0].body); r.status != http.StatusOK {
			t.Fatalf("update after unlock: %s", r)
		}
		if n := q.node(t, "gpu-1"); n.GitBranch != branch {
			t.Errorf("branch %q after the update, want %q", n.GitBranch, branch)
		}
	})
}

// holdWriteLock opens the registry file on its own connection and takes
// its write lock; the returned func (also run at cleanup) lets it go.
func holdWriteLock(t *testing.T, dbPath string) func() {
	t.Helper()
	conn, err := sqlite.OpenConn(dbPath, sqlite.OpenReadWrite|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(conn, "BEGIN IMMEDIATE;", nil); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	done := false
	unlock := func() {
		if done {
			return
		}
		done = true
		if err := sqlitex.ExecuteTransient(conn, "ROLLBACK;", nil); err != nil {
			t.Error(err)
		}
		conn.Close()
	}
	t.Cleanup(unlock)
	return unlock
}
