package hiveregistry

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestSchemasMatch: both migration lists have the same length and build
// the same tables, columns (with NOT NULL and default) and named indexes.
func TestSchemasMatch(t *testing.T) {
	if len(pgMigrations) != len(migrations) {
		t.Fatalf("%d PostgreSQL migrations, %d SQLite ones: append to both lists", len(pgMigrations), len(migrations))
	}
	lite, _ := openTemp(t)
	pg, _ := openPostgres(t)
	want, got := sqliteSchema(t, lite), pgSchema(t, pg)
	if !maps.Equal(got, want) {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if got[k] != want[k] {
				t.Errorf("%s: SQLite %q, PostgreSQL %q", k, want[k], got[k])
			}
		}
		for _, k := range slices.Sorted(maps.Keys(got)) {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: only in PostgreSQL (%q)", k, got[k])
			}
		}
	}
	if len(want) < 30 {
		t.Errorf("only %d columns and indexes read: %v", len(want), want)
	}
}

// sqliteSchema maps "table.column" to "not null=…, default=…" and
// "index name" to its table, from sqlite_master and PRAGMA table_info.
func sqliteSchema(t *testing.T, r *Registry) map[string]string {
	t.Helper()
	pool := r.store.(*sqliteStore).pool
	conn, err := pool.Take(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Put(conn)
	out := map[string]string{}
	var tables []string
	err = sqlitex.Execute(conn, `SELECT type, name, tbl_name FROM sqlite_master
		WHERE name NOT LIKE 'sqlite_%' AND type IN ('table', 'index')`, &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error {
			if s.ColumnText(0) == "table" {
				tables = append(tables, s.ColumnText(1))
			} else {
				out["index "+s.ColumnText(1)] = s.ColumnText(2)
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		err := sqlitex.Execute(conn, `SELECT name, "notnull", dflt_value FROM pragma_table_info(:t)`, &sqlitex.ExecOptions{
			Named: map[string]any{":t": table},
			ResultFunc: func(s *sqlite.Stmt) error {
				out[table+"."+s.ColumnText(0)] = column(s.ColumnInt(1) == 1, s.ColumnText(2))
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// pgSchema is sqliteSchema from information_schema and pg_indexes,
// leaving out the version table and the indexes behind PRIMARY KEY and
// UNIQUE (SQLite's autoindexes).
func pgSchema(t *testing.T, r *Registry) map[string]string {
	t.Helper()
	pool := r.store.(*pgStore).pool
	out := map[string]string{}
	rows, err := pool.Query(t.Context(), `SELECT table_name, column_name, is_nullable = 'NO', COALESCE(column_default, '')
		FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'hive_registry_schema'`)
	if err != nil {
		t.Fatal(err)
	}
	var table, col, def string
	var notNull bool
	_, err = pgx.ForEachRow(rows, []any{&table, &col, &notNull, &def}, func() error {
		def = strings.TrimSuffix(strings.TrimSuffix(def, "::text"), "::bigint")
		out[table+"."+col] = column(notNull, def)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err = pool.Query(t.Context(), `SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'
		AND tablename <> 'hive_registry_schema' AND indexname NOT LIKE '%\_pkey' AND indexname NOT LIKE '%\_key'`)
	if err != nil {
		t.Fatal(err)
	}
	var index string
	_, err = pgx.ForEachRow(rows, []any{&index, &table}, func() error {
		out["index "+index] = table
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func column(notNull bool, def string) string {
	return fmt.Sprintf("not null=%v, default=%s", notNull, def)
}

// TestConcurrentOpensMigrateOnce: queens that open one fresh database at
// the same moment all succeed and the schema is migrated once.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	dsn := sharedCluster(t).NewDatabase(t)
	const queens = 6
	regs := make([]*Registry, queens)
	errs := make([]error, queens)
	var wg sync.WaitGroup
	for i := range queens {
		wg.Go(func() { regs[i], errs[i] = OpenStore(t.Context(), dsn, Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("queen %d: %v", i, err)
			continue
		}
		defer regs[i].Close()
	}
	if t.Failed() {
		return
	}
	if err := regs[0].Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
		t.Fatal(err)
	}
	for i, r := range regs {
		if err := r.QuickCheck(t.Context()); err != nil {
			t.Errorf("queen %d: %v", i, err)
		}
		if _, err := r.Get(t.Context(), "gpu-1"); err != nil {
			t.Errorf("queen %d does not see the row: %v", i, err)
		}
	}
}

// TestPostgresMigrationRetiresInstallStatuses is
// TestMigrationRetiresInstallStatuses on PostgreSQL: a database at the
// version before the last-install columns, with rows in the retired
// statuses, is migrated by OpenStore.
func TestPostgresMigrationRetiresInstallStatuses(t *testing.T) {
	dsn := sharedCluster(t).NewDatabase(t)
	last := slices.IndexFunc(pgMigrations, func(m string) bool { return strings.Contains(m, "last_install_result") })
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	script := []string{pgVersionTable}
	script = append(script, pgMigrations[:last]...)
	script = append(script, fmt.Sprintf(`INSERT INTO hive_registry_schema VALUES ('rbee', %d)`, last),
		`INSERT INTO hives (node_name, ssh_host, git_repo_url, install_path, status, agent_url, created_unix, updated_unix)
		VALUES ('was-installing', 'h', 'https://h/r', '/r', 'installing', 'http://10.0.0.7:7835', 1, 1),
		       ('never-installed', 'h', 'https://h/r', '/r', 'install_failed', '', 1, 1)`)
	for _, s := range script {
		if _, err := conn.Exec(t.Context(), s); err != nil {
			t.Fatalf("old schema: %v", err)
		}
	}
	r, err := OpenStore(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	defer r.Close()
	for name, want := range map[string]string{"was-installing": api.StatusOffline, "never-installed": api.StatusReachable} {
		if n, err := r.Get(t.Context(), name); err != nil || n.Status != want || n.LastInstall != (api.InstallRecord{}) {
			t.Errorf("%s after the migration: status %q, last install %+v (%v), want %s and none", name, n.Status, n.LastInstall, err, want)
		}
	}
	if err := r.QuickCheck(t.Context()); err != nil {
		t.Error(err)
	}
}

// TestPostgresSchemaVersionChecked: QuickCheck reports a database another
// queen version migrated as ErrCorrupt, and OpenStore refuses a newer one
// with the next step.
func TestPostgresSchemaVersionChecked(t *testing.T) {
	r, dsn := openPostgres(t)
	if err := r.QuickCheck(t.Context()); err != nil {
		t.Fatalf("fresh database: %v", err)
	}
	if got, err := r.IntegrityCheck(t.Context()); err != nil || got != "ok" {
		t.Errorf("IntegrityCheck = %q, %v; want ok", got, err)
	}
	newer := len(pgMigrations) + 1
	if err := rawExec(t, r, "UPDATE hive_registry_schema SET version = :v", map[string]any{":v": newer}); err != nil {
		t.Fatal(err)
	}
	if err := r.QuickCheck(t.Context()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("QuickCheck of version %d: %v, want ErrCorrupt", newer, err)
	}
	if got, err := r.IntegrityCheck(t.Context()); err != nil || got == "ok" {
		t.Errorf("IntegrityCheck of version %d = %q, %v; want a finding", newer, got, err)
	}
	if _, err := OpenStore(t.Context(), dsn, Options{}); err == nil || !strings.Contains(err.Error(), "upgrade this queen") {
		t.Errorf("OpenStore of a newer schema: %v, want a refusal saying to upgrade", err)
	}
}

// TestPostgresBusy: while another session holds the row's lock, a write
// waits lock_timeout as SetBusyTimeout set it (not the 5 s of OpenStore)
// and fails with an error IsBusy recognises; a read still works; once the
// lock is gone the write goes through.
func TestPostgresBusy(t *testing.T) {
	r, dsn := openPostgres(t)
	if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
		t.Fatal(err)
	}
	if err := r.SetBusyTimeout(t.Context(), 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(t.Context())
	tx, err := other.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "SELECT 1 FROM hives WHERE node_name = 'gpu-1' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []func() error{
		func() error { return r.SetStatus(t.Context(), "gpu-1", api.StatusOffline, nil) },
		func() error {
			_, err := r.Update(t.Context(), "gpu-1", func(n *api.Node) error { n.AgentPort = 9100; return nil })
			return err
		},
	} {
		start := time.Now()
		err := op()
		if took := time.Since(start); !IsBusy(err) || took < 100*time.Millisecond || took > 3*time.Second {
			t.Errorf("write under another's lock: %v after %v, want busy after about 150 ms", err, took)
		}
	}
	if _, err := r.Get(t.Context(), "gpu-1"); err != nil {
		t.Errorf("read under another's lock: %v", err)
	}
	if _, err := r.Get(t.Context(), "gpu-none"); IsBusy(err) {
		t.Errorf("not found counted as busy: %v", err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.SetStatus(t.Context(), "gpu-1", api.StatusOffline, nil); err != nil {
		t.Errorf("write after the lock is gone: %v", err)
	}
}
