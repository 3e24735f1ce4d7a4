package hiveregistry

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"zombiezen.com/go/sqlite"
)

var (
	// ErrExists is returned by Add when a node of that name is already
	// registered; the existing row is left unchanged.
	ErrExists = errors.New("hive already exists")
	// ErrNotFound is returned when no node has the given name.
	ErrNotFound = errors.New("hive not found")
)

// existsError says which name is taken and how to go on. name has passed
// validation, so it is safe inside a suggested command.
func existsError(name string) error {
	return fmt.Errorf("%w: %q; change it with `queen setup update-node --name %s` or remove it first with `queen setup remove-node --name %s`",
		ErrExists, name, name, name)
}

// notFoundError says which name is unknown and where to look. name may be
// anything a caller sent, so it is only shown quoted.
func notFoundError(name string) error {
	return fmt.Errorf("%w: %q; list the registered nodes with `queen setup list-nodes`", ErrNotFound, name)
}

// IsBusy reports whether err says the store could not take the write now
// and nothing was written, so the caller may try again (the queen answers
// 503 with Retry-After). On SQLite: a lock another connection (or process)
// held for longer than the busy timeout (SQLITE_BUSY). On PostgreSQL: a
// serialization failure (40001), a deadlock (40P01), lock_timeout
// (55P03), a session the server ended while it shuts down or restarts
// (57P01, 57P02: the statement was rolled back), a server that refuses
// connections (57P03, 53300) or cannot be reached, or an error pgx
// reports before it sent anything. A connection lost in the middle of a
// write without a word from the server is not busy: whether the write
// landed is unknown.
func IsBusy(err error) bool {
	if err == nil {
		return false
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgBusyCodes[pgErr.Code]
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	return sqlite.ErrCode(err).ToPrimary() == sqlite.ResultBusy
}

// pgBusyCodes are the SQLSTATEs after which nothing was written and a
// retry may succeed.
var pgBusyCodes = map[string]bool{
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
	"55P03": true, // lock_not_available (lock_timeout)
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now
	"53300": true, // too_many_connections
}
