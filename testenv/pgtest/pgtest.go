// Package pgtest starts a throwaway PostgreSQL cluster for a test: initdb
// into a temporary data directory, pg_ctl start on its own port with its
// unix socket in that directory (no TCP listener), and a stop at the end of
// the test. The binaries come from PATH or from Debian's
// /usr/lib/postgresql/<version>/bin (the postgresql package, installed by
// scripts/install-deps.sh); when they are missing the test is skipped, or
// fails under RBEE_REQUIRE_INTEGRATION=1 (testenv/require).
//
// As root the cluster runs as the unprivileged user "postgres" (initdb
// refuses root); otherwise as the current user.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rbee-fleet/rbee/testenv/require"
)

const fix = "install it with: bash scripts/install-deps.sh (Debian package postgresql)"

// Cluster is one running throwaway PostgreSQL server.
type Cluster struct {
	bin  string // directory of initdb, pg_ctl, postgres
	dir  string // data directory; the socket lives here too
	port int
	user string // unix user the server runs as ("" = current)
}

// Start initialises and starts a cluster and stops it when tb ends.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	bin := binDir()
	if bin == "" {
		require.Missing(tb, "PostgreSQL's initdb and pg_ctl", fix)
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		c.user = "postgres"
		if _, err := user.Lookup(c.user); err != nil {
			require.Missing(tb, "the unix user postgres", fix)
		}
	}
	var err error
	if c.dir, err = c.makeDir(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.stopQuietly(); os.RemoveAll(c.dir) })
	if c.port, err = freePort(); err != nil {
		tb.Fatal(err)
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := c.Start(); err != nil {
		tb.Fatal(err)
	}
	return c
}

// binDir finds the directory holding initdb and pg_ctl.
func binDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(found, func(i, j int) bool { return found[i] > found[j] })
	if len(found) == 0 {
		return ""
	}
	return filepath.Dir(found[0])
}

// makeDir makes the cluster's directory, owned by the server's user.
func (c *Cluster) makeDir() (string, error) {
	dir, err := os.MkdirTemp("", "rbee-pg-")
	if err != nil {
		return "", err
	}
	if c.user == "" {
		return dir, nil
	}
	u, err := user.Lookup(c.user)
	if err != nil {
		return "", err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return dir, os.Chown(dir, uid, gid)
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// run runs one of the cluster's programs as its user.
func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.user != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.user, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (c *Cluster) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses='' -c fsync=off -c max_connections=200", c.port, c.dir)
	out, err := c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-o", opts, "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return nil
}

// Stop stops the server (fast mode: open sessions are ended).
func (c *Cluster) Stop() error {
	out, err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Restart stops and starts the server.
func (c *Cluster) Restart() error {
	if err := c.Stop(); err != nil {
		return err
	}
	return c.Start()
}

func (c *Cluster) stopQuietly() {
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
		c.Stop()
	}
}

// DSN is the connection string of database db on this cluster, as the
// superuser postgres over the unix socket.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", db, c.dir, c.port)
}

// NewDatabase creates a fresh, uniquely named database and returns its DSN,
// so tests can share one cluster without seeing each other's rows.
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		tb.Fatalf("connect to the test cluster: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("rbee_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	return c.DSN(name)
}

// freePort picks a port that nothing listens on right now; the server uses
// it only for its socket's name, as it has no TCP listener.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
