package hiveregistry

import (
	"context"
	"fmt"
	"time"
)

// SetBusyTimeout sets how long a write waits for another writer's lock
// before it fails with an error IsBusy recognises; Open and OpenStore set
// 5 s. On SQLite it is every connection's busy timeout (it takes every
// connection of the pool at once); on PostgreSQL it is lock_timeout, set
// on the idle connections and on every new one. Call it before the
// registry is shared, e.g. right after Open in a test that needs a short
// wait.
func (r *Registry) SetBusyTimeout(ctx context.Context, d time.Duration) error {
	if err := r.store.setBusyTimeout(ctx, d); err != nil {
		return fmt.Errorf("set the busy timeout of the hive registry: %w", err)
	}
	return nil
}
