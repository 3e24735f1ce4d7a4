package lease_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rbee-fleet/rbee/queen/lease"
	"github.com/rbee-fleet/rbee/testenv/pgtest"
)

// syncBuffer is a log sink safe for the lease's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start starts a lease named holder on dsn until the test ends or cancel.
func start(t *testing.T, dsn, holder string, poll, ttl time.Duration) (*lease.Lease, *syncBuffer, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	l, err := lease.Start(ctx, lease.Config{DSN: dsn, Holder: holder, URL: "http://" + holder, Poll: poll, TTL: ttl,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-l.Done() })
	return l, logs, cancel
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// terminate ends holder's lock session on the server, as a lost
// connection would.
func terminate(t *testing.T, dsn, holder string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, "rbee queen lease "+holder).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminate %s's lock session: %d sessions, %v", holder, n, err)
	}
}

// fence runs Fence of l in a transaction on dsn.
func fence(t *testing.T, dsn string, l *lease.Lease) error {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	return pgx.BeginFunc(context.Background(), conn, func(tx pgx.Tx) error { return l.Fence(context.Background(), tx) })
}

// TestOneActiveAndTakeover: of two queens one is active; when the holder
// goes away the other takes over under the next epoch within the lease
// time, and the old epoch is fenced.
func TestOneActiveAndTakeover(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	const poll, ttl = 50 * time.Millisecond, time.Second
	a, _, stopA := start(t, dsn, "a", poll, ttl)
	waitFor(t, ttl, "a is active", a.Active)
	b, _, _ := start(t, dsn, "b", poll, ttl)
	waitFor(t, ttl, "b sees a's lease", func() bool { return b.Status().ActiveURL == "http://a" })
	if b.Active() || b.Status().Role != lease.RoleStandby {
		t.Fatalf("b is %+v while a holds the lease", b.Status())
	}
	first := a.Status().Epoch
	if err := fence(t, dsn, a); err != nil {
		t.Fatalf("the holder's write was fenced: %v", err)
	}
	if err := fence(t, dsn, b); !errors.Is(err, lease.ErrFenced) {
		t.Fatalf("the standby's write: %v; want ErrFenced", err)
	}
	stopA()
	<-a.Done()
	waitFor(t, ttl, "b takes over", b.Active)
	if got := b.Status().Epoch; got != first+1 {
		t.Fatalf("b's epoch %d, want %d", got, first+1)
	}
	if err := fence(t, dsn, b); err != nil {
		t.Fatalf("the new holder's write was fenced: %v", err)
	}
}

// TestLostConnectionFencesOldEpoch: the holder's lock session dies while
// the holder does not look (a long poll, as if paused); the standby takes
// over, the old holder's next write is refused naming both epochs, and the
// old holder steps down and logs it.
func TestLostConnectionFencesOldEpoch(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	old, logs, _ := start(t, dsn, "old", time.Hour, 2*time.Hour)
	waitFor(t, 5*time.Second, "old is active", old.Active)
	next, _, _ := start(t, dsn, "next", 50*time.Millisecond, time.Second)
	terminate(t, dsn, "old")
	waitFor(t, 5*time.Second, "next takes over", next.Active)
	if !old.Active() {
		t.Fatal("old stepped down before it looked; the test cannot show the fence")
	}
	err := fence(t, dsn, old)
	if !errors.Is(err, lease.ErrFenced) || !strings.Contains(err.Error(), "epoch 1, current 2") {
		t.Fatalf("old holder's write: %v; want ErrFenced naming epoch 1, current 2", err)
	}
	waitFor(t, 5*time.Second, "old steps down", func() bool { return !old.Active() })
	if !strings.Contains(logs.String(), "stepped down") {
		t.Fatalf("old's log does not say it stepped down:\n%s", logs)
	}
	if next.Status().Epoch != 2 || !next.Active() {
		t.Fatalf("next: %+v, want active under epoch 2", next.Status())
	}
}

// TestTakeoverWaitsForFencedWrite: a write that passed the fence holds the
// lease row, so a takeover waits for it to commit; the write stays.
func TestTakeoverWaitsForFencedWrite(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	ctx := context.Background()
	old, _, _ := start(t, dsn, "old", time.Hour, 2*time.Hour)
	waitFor(t, 5*time.Second, "old is active", old.Active)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE w (v text)"); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Fence(ctx, tx); err != nil {
		t.Fatal(err)
	}
	next, _, _ := start(t, dsn, "next", 50*time.Millisecond, 3*time.Second)
	terminate(t, dsn, "old")
	time.Sleep(300 * time.Millisecond) // next has the lock and waits for the row
	if next.Active() {
		t.Fatal("next took over while a fenced write was open")
	}
	if _, err := tx.Exec(ctx, "INSERT INTO w VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("the write that passed the fence: %v", err)
	}
	waitFor(t, 5*time.Second, "next takes over after the commit", next.Active)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM w").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows %d, %v; want the committed write", n, err)
	}
}

// TestConfigRejectsTTLNotAbovePoll names the flags to change.
func TestConfigRejectsTTLNotAbovePoll(t *testing.T) {
	_, err := lease.Start(context.Background(), lease.Config{DSN: "postgres://x@/y", Poll: time.Second, TTL: time.Second})
	if err == nil || !strings.Contains(err.Error(), "--lease-ttl") {
		t.Fatalf("err %v; want one naming --lease-ttl", err)
	}
}

// TestStepsDownWhenDatabaseGone: with its database stopped the holder
// steps down within the lease time (plus one poll) and logs it; when the
// database is back one queen is active again, under a newer epoch or its
// own.
func TestStepsDownWhenDatabaseGone(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	const poll, ttl = 100 * time.Millisecond, time.Second
	l, logs, _ := start(t, dsn, "solo", poll, ttl)
	waitFor(t, ttl, "solo is active", l.Active)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ttl+3*poll+opSlack, "solo steps down without its database and logs it", func() bool {
		return !l.Active() && strings.Contains(logs.String(), "stepped down")
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "solo active again", l.Active)
}

// opSlack covers one database operation that times out while the
// database is gone.
const opSlack = time.Second
