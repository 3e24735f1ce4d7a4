package hiveregistry

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Registry is the hive registry, safe for concurrent use. Create it with
// Open (SQLite) or OpenStore (SQLite or PostgreSQL) and release it with
// Close. Validation, time stamps and the change notification live here, so
// both stores behave the same; the rows live in its store.
type Registry struct {
	store store
	now   func() time.Time

	changeMu sync.Mutex
	changed  chan struct{} // closed at the next write to a node; nil: none asked
}

// Open opens the registry file at path, creating it (mode 0600) and its
// parent directory (mode 0700) when missing and applying any pending
// migrations before it returns. ctx bounds the opening only.
func Open(ctx context.Context, path string) (*Registry, error) {
	s, err := openSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	return newRegistry(s), nil
}

// newRegistry wraps an opened store.
func newRegistry(s store) *Registry {
	return &Registry{store: s, now: time.Now}
}

// Close closes every connection. The registry must not be used afterwards.
func (r *Registry) Close() error {
	if err := r.store.close(); err != nil {
		return fmt.Errorf("close hive registry: %w", err)
	}
	return nil
}
