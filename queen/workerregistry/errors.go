package workerregistry

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned when no worker has the given id.
	ErrNotFound = errors.New("worker not found")
	// ErrConflict is returned by Register when the id is registered by
	// another node; that node's record is left unchanged.
	ErrConflict = errors.New("worker id registered by another node")
	// ErrForbidden is returned when a node changes or removes a worker
	// that another node owns.
	ErrForbidden = errors.New("worker owned by another node")
)

// The ids below come from requests that passed validation; they are still
// shown quoted only.

func notFoundError(id string) error {
	return fmt.Errorf("%w: %q; register it first", ErrNotFound, id)
}

func conflictError(id string) error {
	return fmt.Errorf("%w: %q; worker ids must be unique across the fleet, give this worker a new id", ErrConflict, id)
}

func forbiddenError(id string) error {
	return fmt.Errorf("%w: %q; a hive may change only its own workers", ErrForbidden, id)
}
