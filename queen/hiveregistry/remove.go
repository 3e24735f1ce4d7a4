package hiveregistry

import (
	"context"
	"fmt"
)

const removeSQL = `DELETE FROM hives WHERE node_name = :node_name`

// Remove deletes the node called name with its token hash. An unknown name
// returns an error wrapping ErrNotFound.
func (r *Registry) Remove(ctx context.Context, name string) error {
	defer r.wrote()
	changed, err := r.store.write(ctx, stmt{removeSQL, map[string]any{":node_name": name}})
	if err != nil {
		return fmt.Errorf("remove hive %q: %w", name, err)
	}
	if changed == 0 {
		return fmt.Errorf("remove hive: %w", notFoundError(name))
	}
	return nil
}
