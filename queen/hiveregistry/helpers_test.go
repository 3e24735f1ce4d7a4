package hiveregistry

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/ssh"
	"zombiezen.com/go/sqlite"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/pgtest"
)

// openTemp opens a registry on a fresh file in t.TempDir and closes it when
// the test ends.
func openTemp(t testing.TB) (*Registry, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rbee", "beehives.db")
	r, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r, path
}

// sampleNode returns a complete, valid node called name with every field
// set to something other than its zero value.
func sampleNode(t testing.TB, name string) api.Node {
	t.Helper()
	key := hostKey(t, name)
	return api.Node{
		NodeName: name, SSHHost: "10.0.0.7", SSHPort: 2222, SSHUser: "vince",
		SSHKeyPath: "/home/vince/My Keys/id_ed25519", GitRepoURL: "git@github.com:rbee-fleet/rbee.git",
		GitBranch: "feature/ssh-retry", InstallPath: "~/rbee fleet", AgentPort: 9000, Transport: api.TransportSSH,
		Status: api.StatusOnline, HostKey: key, HostKeyFingerprint: fingerprint(key),
		LastConnectedUnix: 1_760_000_100, InstalledCommit: "9e2061e0c1d2a3b4",
		AgentURL: "http://10.0.0.7:9000", AgentVersion: "9e2061e0c1d2",
		CreatedUnix: 1_759_000_000, UpdatedUnix: 1_760_000_200,
	}
}

// hostKey returns a deterministic ed25519 host key, in authorized_keys
// format, derived from seed.
func hostKey(t testing.TB, seed string) string {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	copy(s, seed)
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s).Public())
	if err != nil {
		t.Fatalf("make host key: %v", err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// opener opens a fresh, empty registry that is closed when t ends, and
// returns the spec OpenStore opens it again with.
type opener func(t testing.TB) (*Registry, string)

// testStores are the stores every shared test runs against.
var testStores = []struct {
	name string
	open opener
}{
	{"sqlite", openSQLiteSpec},
	{"postgres", openPostgres},
}

// forEachStore runs test once per store, as subtests named after them.
func forEachStore(t *testing.T, test func(t *testing.T, open opener)) {
	t.Helper()
	for _, s := range testStores {
		t.Run(s.name, func(t *testing.T) { test(t, s.open) })
	}
}

// openSQLiteSpec is openTemp as an opener.
func openSQLiteSpec(t testing.TB) (*Registry, string) {
	t.Helper()
	r, path := openTemp(t)
	return r, "sqlite:" + path
}

// openPostgres opens a registry on a new database of the test binary's
// shared PostgreSQL cluster (see sharedCluster).
func openPostgres(t testing.TB) (*Registry, string) {
	t.Helper()
	return openPostgresWith(t, Options{})
}

// openPostgresWith is openPostgres with opts.
func openPostgresWith(t testing.TB, opts Options) (*Registry, string) {
	t.Helper()
	dsn := sharedCluster(t).NewDatabase(t)
	r, err := OpenStore(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("OpenStore(%s): %v", dsn, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r, dsn
}

// shared is the one PostgreSQL cluster of the test binary: started at the
// first test that needs it, stopped by TestMain after the last test.
var shared struct {
	once    sync.Once
	cluster *pgtest.Cluster
	tb      binaryTB
}

// sharedCluster returns the shared cluster, starting it on first use. When
// pgtest could not start it, t ends the way pgtest ended the start:
// skipped (no PostgreSQL here) or failed (RBEE_REQUIRE_INTEGRATION=1, or
// a broken installation).
func sharedCluster(t testing.TB) *pgtest.Cluster {
	t.Helper()
	shared.once.Do(func() {
		done := make(chan struct{})
		go func() { // pgtest ends a failed start with runtime.Goexit
			defer close(done)
			shared.cluster = pgtest.Start(&shared.tb)
		}()
		<-done
	})
	switch {
	case shared.tb.failed != "":
		t.Fatal(shared.tb.failed)
	case shared.tb.skipped != "":
		t.Skip(shared.tb.skipped)
	}
	return shared.cluster
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.tb.cleanup()
	os.Exit(code)
}

// binaryTB is the testing.TB pgtest.Start gets for the shared cluster: its
// cleanups run when the test binary ends, not with the first test that
// asked. It implements only what pgtest.Start (and testenv/require) call;
// any other method panics on the nil embedded TB.
type binaryTB struct {
	testing.TB
	cleanups        []func()
	failed, skipped string
}

func (b *binaryTB) Helper()                   {}
func (b *binaryTB) Cleanup(f func())          { b.cleanups = append(b.cleanups, f) }
func (b *binaryTB) Fatal(args ...any)         { b.failed = fmt.Sprint(args...); runtime.Goexit() }
func (b *binaryTB) Fatalf(f string, a ...any) { b.failed = fmt.Sprintf(f, a...); runtime.Goexit() }
func (b *binaryTB) Skip(args ...any)          { b.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (b *binaryTB) Skipf(f string, a ...any)  { b.skipped = fmt.Sprintf(f, a...); runtime.Goexit() }
func (b *binaryTB) Name() string              { return "TestMain" }

// cleanup runs the cleanups, last first.
func (b *binaryTB) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

// rawExec runs one statement (with :name parameters) on r's store, past
// the Go validation.
func rawExec(t *testing.T, r *Registry, query string, named map[string]any) error {
	t.Helper()
	_, err := r.store.write(t.Context(), stmt{query, named})
	return err
}

// isCheckViolation reports whether err is a CHECK constraint failing, in
// either store.
func isCheckViolation(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == "23514"
	}
	return sqlite.ErrCode(err) == sqlite.ResultConstraintCheck
}
