package hiveregistry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

func BenchmarkAdd(b *testing.B) {
	r, _ := openTemp(b)
	nodes := make([]string, b.N)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("gpu-%d", i)
	}
	n := sampleNode(b, "gpu-0")
	b.ResetTimer()
	for i := range b.N {
		n.NodeName = nodes[i]
		if err := r.Add(b.Context(), n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	r, _ := openTemp(b)
	if err := r.Add(b.Context(), sampleNode(b, "gpu-1")); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Get(b.Context(), "gpu-1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddNode adds nodes to each store of the same machine side by
// side in one run, rounds interleaved so they share the noise, and reports
// the time per add of each and the ratios against SQLite as the queen runs
// it (synchronous=FULL: every commit fsynced):
//
//   - sqlite: the registry file as Open configures it;
//   - sqlite-nosync: the same with synchronous=OFF, the baseline for the
//     test cluster, which runs with fsync=off (pgtest), so PostgreSQL's
//     figures leave out its WAL flush;
//   - pg: a PostgreSQL database over the cluster's unix socket;
//   - pg-fenced: the same with a Fence that reads a lease row FOR SHARE in
//     each write's transaction, as the HA pair's queens do.
//
// go test -run '^$' -bench AddNode -benchtime 1x ./queen/hiveregistry/
func BenchmarkAddNode(b *testing.B) {
	const perRound = 200
	stores := []struct {
		name string
		r    *Registry
	}{
		{"sqlite", benchSQLite(b, false)},
		{"sqlite-nosync", benchSQLite(b, true)},
		{"pg", first(openPostgres(b))},
		{"pg-fenced", benchFencedPG(b)},
	}
	took := make([]time.Duration, len(stores))
	n := sampleNode(b, "gpu-0")
	next := 0
	for b.Loop() {
		for i, s := range stores {
			start := time.Now()
			for range perRound {
				n.NodeName = fmt.Sprintf("gpu-%d", next)
				next++
				if err := s.r.Add(b.Context(), n); err != nil {
					b.Fatalf("%s: %v", s.name, err)
				}
			}
			took[i] += time.Since(start)
		}
	}
	per := make([]float64, len(stores))
	for i, s := range stores {
		per[i] = float64(took[i].Nanoseconds()) / float64(b.N*perRound)
		b.ReportMetric(per[i], s.name+"-ns/add")
	}
	b.ReportMetric(per[2]/per[0], "pg/sqlite")
	b.ReportMetric(per[2]/per[1], "pg/sqlite-nosync")
	b.ReportMetric(per[3]/per[2], "pg-fenced/pg")
}

func first[T, U any](t T, _ U) T { return t }

// benchSQLite opens a registry file, with synchronous=OFF when nosync.
func benchSQLite(b *testing.B, nosync bool) *Registry {
	r, _ := openTemp(b)
	if !nosync {
		return r
	}
	pool := r.store.(*sqliteStore).pool
	conns := make([]*sqlite.Conn, 0, poolSize)
	defer func() {
		for _, c := range conns {
			pool.Put(c)
		}
	}()
	for range poolSize {
		c, err := pool.Take(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		if err := sqlitex.ExecuteTransient(c, "PRAGMA synchronous = OFF;", nil); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

// benchFencedPG opens a PostgreSQL registry fenced by a lease row.
func benchFencedPG(b *testing.B) *Registry {
	fence := func(ctx context.Context, tx pgx.Tx) error {
		var epoch int64
		return tx.QueryRow(ctx, "SELECT epoch FROM bench_lease WHERE id = 1 FOR SHARE").Scan(&epoch)
	}
	dsn := sharedCluster(b).NewDatabase(b)
	conn, err := pgx.Connect(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(b.Context())
	if _, err := conn.Exec(b.Context(), "CREATE TABLE bench_lease (id INT PRIMARY KEY, epoch BIGINT); INSERT INTO bench_lease VALUES (1, 1)"); err != nil {
		b.Fatal(err)
	}
	r, err := OpenStore(b.Context(), dsn, Options{Fence: fence})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}
