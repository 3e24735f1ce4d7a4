package hiveregistry

import (
	"context"
	"fmt"

	"zombiezen.com/go/sqlite/sqlitex"
)

const removeSQL = `DELETE FROM hives WHERE node_name = :node_name;`

// Remove deletes the node called name with its token hash. An unknown name
// returns an error wrapping ErrNotFound.
func (r *Registry) Remove(ctx context.Context, name string) error {
	defer r.wrote()
	conn, err := r.pool.Take(ctx)
	if err != nil {
		return fmt.Errorf("remove hive %q: %w", name, err)
	}
	defer r.pool.Put(conn)
	err = sqlitex.Execute(conn, removeSQL, &sqlitex.ExecOptions{Named: map[string]any{":node_name": name}})
	if err != nil {
		return fmt.Errorf("remove hive %q: %w", name, err)
	}
	if conn.Changes() == 0 {
		return fmt.Errorf("remove hive: %w", notFoundError(name))
	}
	return nil
}
