package hiveregistry

import (
	"context"
	"fmt"
	"time"

	"zombiezen.com/go/sqlite"
)

// SetBusyTimeout sets how long every connection of the registry waits for
// another writer's lock before a statement fails with SQLITE_BUSY (see
// IsBusy); Open sets 5 s. It takes every connection of the pool at once,
// so call it before the registry is shared, e.g. right after Open in a
// test that needs a short wait.
func (r *Registry) SetBusyTimeout(ctx context.Context, d time.Duration) error {
	conns := make([]*sqlite.Conn, 0, poolSize)
	defer func() {
		for _, c := range conns {
			r.pool.Put(c)
		}
	}()
	for range poolSize {
		c, err := r.pool.Take(ctx)
		if err != nil {
			return fmt.Errorf("set the busy timeout of the hive registry: %w", err)
		}
		c.SetBusyTimeout(d)
		conns = append(conns, c)
	}
	return nil
}
