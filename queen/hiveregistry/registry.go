package hiveregistry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitemigration"
	"zombiezen.com/go/sqlite/sqlitex"
)

const (
	// fileMode is the mode of the database file and its -wal and -shm files:
	// the rows name SSH keys and hold token hashes.
	fileMode os.FileMode = 0o600
	// dirMode is the mode of a parent directory Open creates.
	dirMode os.FileMode = 0o700
	// busyTimeout is how long a statement waits for another writer's lock
	// before it fails with SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// poolSize is the number of connections; writes are serialised by SQLite
	// anyway, so a few are enough for concurrent reads.
	poolSize = 8
)

// Registry is the hive registry, safe for concurrent use. Create it with
// Open and release it with Close.
type Registry struct {
	pool *sqlitemigration.Pool
	now  func() time.Time

	changeMu sync.Mutex
	changed  chan struct{} // closed at the next write to a node; nil: none asked
}

// Open opens the registry file at path, creating it (mode 0600) and its
// parent directory (mode 0700) when missing and applying any pending
// migrations before it returns. ctx bounds the opening only.
func Open(ctx context.Context, path string) (*Registry, error) {
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
	return &Registry{pool: pool, now: time.Now}, nil
}

// Close closes every connection. The registry must not be used afterwards.
func (r *Registry) Close() error {
	if err := r.pool.Close(); err != nil {
		return fmt.Errorf("close hive registry: %w", err)
	}
	return nil
}

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
