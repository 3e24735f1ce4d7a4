package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rbee-fleet/rbee/testenv/pgtest"
)

// TestClusterLifecycle starts a cluster, writes a row, restarts the server
// and reads the row back: the harness the HA tests rely on.
func TestClusterLifecycle(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec := func(sql string, args ...any) {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE TABLE t (v text)")
	exec("INSERT INTO t VALUES ($1)", "kept")
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "kept" {
		t.Fatalf("after restart: %q, %v; want kept", v, err)
	}
	if other := c.NewDatabase(t); other == dsn {
		t.Fatal("two databases got the same DSN")
	}
}
