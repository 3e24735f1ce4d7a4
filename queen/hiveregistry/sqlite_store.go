package hiveregistry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitemigration"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/rbee-fleet/rbee/shared/api"
)

const (
	// fileMode is the mode of the database file and its -wal and -shm files:
	// the rows name SSH keys and hold token hashes.
	fileMode os.FileMode = 0o600
	// dirMode is the mode of a parent directory Open creates.
	dirMode os.FileMode = 0o700
	// busyTimeout is how long a statement waits for another writer's lock
	// before it fails with SQLITE_BUSY (on PostgreSQL: lock_timeout).
	busyTimeout = 5 * time.Second
	// poolSize is the number of connections; writes are serialised by SQLite
	// anyway, so a few are enough for concurrent reads.
	poolSize = 8
)

// sqliteStore keeps the rows in one SQLite file.
type sqliteStore struct {
	pool *sqlitemigration.Pool
}

// openSQLite opens (creating and migrating) the file at path.
func openSQLite(ctx context.Context, path string) (*sqliteStore, error) {
	abs, err := prepareFile(path)
	if err != nil {
		return nil, fmt.Errorf("open hive registry %s: %w", path, err)
	}
	pool, err := openPool(ctx, abs)
	if err != nil {
		return nil, openError(path, err)
	}
	if err := chmodFiles(abs); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open hive registry %s: %w", path, err)
	}
	return &sqliteStore{pool: pool}, nil
}

func (s *sqliteStore) close() error { return s.pool.Close() }

// prepareFile creates the parent directory and an empty database file with
// fileMode, so the file never exists with a umask-dependent mode, and
// returns the absolute path.
func prepareFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty path; pass --data-dir or set RBEE_HOME")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(abs), dirMode); err != nil {
		return "", err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return abs, nil
}

// chmodFiles sets fileMode on the database file and on its -wal and -shm
// files where they exist. SQLite gives those the database file's mode
// already; this also repairs a file left with a wider mode.
func chmodFiles(abs string) error {
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		if err := os.Chmod(p, fileMode); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// openPool starts the migrating pool and waits until it is ready or has
// failed; a failure to open the file (say, it is not a database) is
// reported at once instead of being retried forever.
func openPool(ctx context.Context, abs string) (*sqlitemigration.Pool, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pool := sqlitemigration.NewPool(fileURI(abs), schema(), sqlitemigration.Options{
		Flags:       sqlite.OpenReadWrite | sqlite.OpenCreate | sqlite.OpenWAL | sqlite.OpenURI,
		PoolSize:    poolSize,
		PrepareConn: prepareConn,
		OnError:     func(err error) { cancel(err) },
	})
	conn, err := pool.Take(ctx)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		pool.Close()
		return nil, err
	}
	pool.Put(conn)
	return pool, nil
}

// prepareConn sets the per-connection settings: wait for locks, enforce
// foreign keys, and sync every commit (FULL) so nothing acknowledged is lost
// on power failure.
func prepareConn(conn *sqlite.Conn) error {
	conn.SetBusyTimeout(busyTimeout)
	// One statement each: a script would run inside a savepoint, where
	// SQLite refuses to change the sync level.
	for _, p := range []string{"PRAGMA foreign_keys = ON;", "PRAGMA synchronous = FULL;"} {
		if err := sqlitex.ExecuteTransient(conn, p, nil); err != nil {
			return fmt.Errorf("%s %w", p, err)
		}
	}
	return nil
}

// fileURI turns an absolute path into a SQLite file: URI, escaping '?', '#'
// and '%' so they stay part of the name.
func fileURI(abs string) string {
	return (&url.URL{Scheme: "file", Path: abs}).String()
}

// openError wraps a failure to open or migrate the file, with a next step
// where the cause is known.
func openError(path string, err error) error {
	if sqlite.ErrCode(err) == sqlite.ResultNotADB {
		return fmt.Errorf("open hive registry %s: %w; move the file away or pass another --data-dir", path, err)
	}
	return fmt.Errorf("open hive registry %s: %w", path, err)
}

// write runs stmts on one connection, in an IMMEDIATE transaction when
// there are several.
func (s *sqliteStore) write(ctx context.Context, stmts ...stmt) (_ int64, err error) {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return 0, err
	}
	defer s.pool.Put(conn)
	if len(stmts) > 1 {
		endTx, err := sqlitex.ImmediateTransaction(conn)
		if err != nil {
			return 0, err
		}
		defer endTx(&err)
	}
	var changed int
	for _, st := range stmts {
		if err := sqlitex.Execute(conn, st.sql, &sqlitex.ExecOptions{Named: st.args}); err != nil {
			return 0, err
		}
		changed = conn.Changes()
	}
	return int64(changed), nil
}

func (s *sqliteStore) queryText(ctx context.Context, query string, args map[string]any) (string, bool, error) {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return "", false, err
	}
	defer s.pool.Put(conn)
	text, found := "", false
	err = sqlitex.Execute(conn, query, &sqlitex.ExecOptions{
		Named: args,
		ResultFunc: func(stmt *sqlite.Stmt) error {
			if !found {
				text, found = stmt.ColumnText(0), true
			}
			return nil
		},
	})
	return text, found, err
}

func (s *sqliteStore) nodes(ctx context.Context, query string, args map[string]any) ([]api.Node, error) {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return nil, err
	}
	defer s.pool.Put(conn)
	return sqliteNodes(conn, query, args)
}

// sqliteNodes reads nodes on conn, inside whatever transaction is open.
func sqliteNodes(conn *sqlite.Conn, query string, args map[string]any) ([]api.Node, error) {
	nodes := []api.Node{}
	err := sqlitex.Execute(conn, query, &sqlitex.ExecOptions{
		Named: args,
		ResultFunc: func(stmt *sqlite.Stmt) error {
			nodes = append(nodes, scanNode(stmt))
			return nil
		},
	})
	return nodes, err
}

func (s *sqliteStore) clientKeys(ctx context.Context) ([]api.ClientKey, error) {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return nil, err
	}
	defer s.pool.Put(conn)
	keys := []api.ClientKey{}
	err = sqlitex.Execute(conn, listKeysSQL, &sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
		keys = append(keys, api.ClientKey{Name: stmt.ColumnText(0), Scope: stmt.ColumnText(1),
			CreatedUnix: stmt.ColumnInt64(2), RevokedUnix: stmt.ColumnInt64(3)})
		return nil
	}})
	return keys, err
}

// update runs in an IMMEDIATE transaction: it takes the write lock before
// reading, so concurrent updates run one after the other.
func (s *sqliteStore) update(ctx context.Context, name string, fn func(api.Node) (api.Node, error)) (_ api.Node, err error) {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return api.Node{}, err
	}
	defer s.pool.Put(conn)
	endTx, err := sqlitex.ImmediateTransaction(conn)
	if err != nil {
		return api.Node{}, err
	}
	defer endTx(&err)
	cur, err := sqliteNodes(conn, getSQL, map[string]any{":node_name": name})
	if err != nil {
		return api.Node{}, fmt.Errorf("read %q: %w", name, err)
	}
	if len(cur) == 0 {
		return api.Node{}, notFoundError(name)
	}
	next, err := fn(cur[0])
	if err != nil {
		return api.Node{}, err
	}
	if err := sqlitex.Execute(conn, updateSQL, &sqlitex.ExecOptions{Named: updateArgs(next)}); err != nil {
		return api.Node{}, err
	}
	return next, nil
}

// quickCheck runs PRAGMA quick_check.
func (s *sqliteStore) quickCheck(ctx context.Context) error {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return fmt.Errorf("check hive registry: %w", err)
	}
	defer s.pool.Put(conn)
	return quickCheck(conn)
}

// integrityCheck runs PRAGMA integrity_check and returns its report.
func (s *sqliteStore) integrityCheck(ctx context.Context) (string, error) {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return "", err
	}
	defer s.pool.Put(conn)
	var lines []string
	err = sqlitex.ExecuteTransient(conn, "PRAGMA integrity_check;", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			lines = append(lines, stmt.ColumnText(0))
			return nil
		},
	})
	return strings.Join(lines, "\n"), err
}

// setBusyTimeout takes every connection of the pool at once and sets its
// busy timeout.
func (s *sqliteStore) setBusyTimeout(ctx context.Context, d time.Duration) error {
	conns := make([]*sqlite.Conn, 0, poolSize)
	defer func() {
		for _, c := range conns {
			s.pool.Put(c)
		}
	}()
	for range poolSize {
		c, err := s.pool.Take(ctx)
		if err != nil {
			return err
		}
		c.SetBusyTimeout(d)
		conns = append(conns, c)
	}
	return nil
}
