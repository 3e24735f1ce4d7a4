package hiveregistry

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitemigration"
	"zombiezen.com/go/sqlite/sqlitex"
)

// failedBuild is the record of an install whose build failed.
var failedBuild = api.InstallRecord{Result: api.ResultFailed, Phase: "get binary",
	Error: "get binary: build:\n./broken.go:3:9: undefined: this", Hint: "fix the cause above", FinishedUnix: 1_770_000_000}

// TestRecordInstallKeepsStatus: the last install is recorded apart from
// the status, which heartbeats own.
func TestRecordInstallKeepsStatus(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		r.now = fixedClock(1_780_000_000)
		want := sampleNode(t, "gpu-1")
		if err := r.Add(t.Context(), want); err != nil {
			t.Fatalf("Add: %v", err)
		}
		if err := r.RecordInstall(t.Context(), "gpu-1", failedBuild); err != nil {
			t.Fatalf("RecordInstall: %v", err)
		}
		want.LastInstall, want.UpdatedUnix = failedBuild, 1_780_000_000
		if got, err := r.Get(t.Context(), "gpu-1"); err != nil || got != want {
			t.Fatalf("Get after RecordInstall:\n got %+v (%v)\nwant %+v", got, err, want)
		}
		if err := r.SetStatus(t.Context(), "gpu-1", api.StatusOffline, nil); err != nil {
			t.Fatalf("SetStatus: %v", err)
		}
		got, err := r.Update(t.Context(), "gpu-1", func(n *api.Node) error { n.GitBranch = "main"; return nil })
		if err != nil || got.LastInstall != failedBuild {
			t.Errorf("Update: last install %+v (%v), want it kept", got.LastInstall, err)
		}
		up := api.InstallRecord{Result: api.ResultUpToDate, FinishedUnix: 1_780_000_100}
		if _, err := r.Update(t.Context(), "gpu-1", func(n *api.Node) error { n.LastInstall = up; return nil }); err != nil {
			t.Fatalf("Update of the last install: %v", err)
		}
		list, err := r.List(t.Context())
		if err != nil || len(list) != 1 || list[0].LastInstall != up || list[0].Status != api.StatusOffline {
			t.Errorf("List = %+v (%v), want gpu-1 offline with last install %+v", list, err, up)
		}
	})
}

func TestRecordInstallRefuses(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
			t.Fatalf("Add: %v", err)
		}
		tests := []struct {
			name, node string
			rec        api.InstallRecord
			want       error
		}{
			{name: "unknown node", node: "gpu-9", rec: failedBuild, want: ErrNotFound},
			{name: "no result", node: "gpu-1", rec: api.InstallRecord{FinishedUnix: 1}, want: api.ErrInvalid},
			{name: "unknown result", node: "gpu-1", rec: api.InstallRecord{Result: "installing"}, want: api.ErrInvalid},
			{name: "negative time", node: "gpu-1", rec: api.InstallRecord{Result: api.ResultInstalled, FinishedUnix: -5}, want: api.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := r.RecordInstall(t.Context(), tt.node, tt.rec); !errors.Is(err, tt.want) {
					t.Errorf("RecordInstall = %v, want %v", err, tt.want)
				}
			})
		}
		if got, _ := r.Get(t.Context(), "gpu-1"); got.LastInstall != (api.InstallRecord{}) {
			t.Errorf("a refused record was stored: %+v", got.LastInstall)
		}
	})
}

// TestRetiredStatusesCannotBeSet: installing and install_failed are
// refused by the Go validation; the CHECK still admits them (it cannot be
// changed in place), so old files stay readable.
func TestRetiredStatusesCannotBeSet(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
			t.Fatalf("Add: %v", err)
		}
		for _, status := range api.RetiredStatuses() {
			if err := r.SetStatus(t.Context(), "gpu-1", status, nil); !errors.Is(err, api.ErrInvalid) {
				t.Errorf("SetStatus(%q) = %v, want it refused", status, err)
			}
			if _, err := r.Update(t.Context(), "gpu-1", func(n *api.Node) error { n.Status = status; return nil }); !errors.Is(err, api.ErrInvalid) {
				t.Errorf("Update to %q = %v, want it refused", status, err)
			}
			if err := setRawStatus(t, r, status); err != nil {
				t.Errorf("the CHECK refuses the retired status %q: %v", status, err)
			}
		}
	})
}

// TestMigrationRetiresInstallStatuses opens a file made before the last
// install columns, holding rows in the retired statuses.
func TestMigrationRetiresInstallStatuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beehives.db")
	last := slices.IndexFunc(migrations, func(m string) bool { return strings.Contains(m, "last_install_result") })
	old := sqlitemigration.Schema{AppID: appID, Migrations: migrations[:last]}
	pool := sqlitemigration.NewPool(fileURI(path), old, sqlitemigration.Options{
		Flags: sqlite.OpenReadWrite | sqlite.OpenCreate | sqlite.OpenWAL | sqlite.OpenURI,
	})
	conn, err := pool.Take(t.Context())
	if err != nil {
		t.Fatalf("open the old schema: %v", err)
	}
	for _, row := range []struct{ name, status, agentURL string }{
		{"was-installing", api.StatusInstalling, "http://10.0.0.7:7835"},
		{"never-installed", api.StatusInstallFailed, ""},
	} {
		err := sqlitex.Execute(conn, `INSERT INTO hives (node_name, ssh_host, git_repo_url, install_path, status,
			agent_url, created_unix, updated_unix) VALUES (:n, 'h', 'https://h/r', '/r', :s, :u, 1, 1);`,
			&sqlitex.ExecOptions{Named: map[string]any{":n": row.name, ":s": row.status, ":u": row.agentURL}})
		if err != nil {
			t.Fatalf("insert %s: %v", row.name, err)
		}
	}
	pool.Put(conn)
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	for name, want := range map[string]string{"was-installing": api.StatusOffline, "never-installed": api.StatusReachable} {
		if n, err := r.Get(t.Context(), name); err != nil || n.Status != want || n.LastInstall != (api.InstallRecord{}) {
			t.Errorf("%s after the migration: status %q, last install %+v (%v), want %s and none", name, n.Status, n.LastInstall, err, want)
		}
	}
}
