package hiveregistry

import (
	"errors"
	"fmt"

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

// IsBusy reports whether err is SQLite giving up on a lock another
// connection (or process) held for longer than the busy timeout
// (SQLITE_BUSY). Nothing was written; the caller may try again.
func IsBusy(err error) bool {
	return err != nil && sqlite.ErrCode(err).ToPrimary() == sqlite.ResultBusy
}
