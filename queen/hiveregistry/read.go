package hiveregistry

import (
	"context"
	"fmt"

	"github.com/rbee-fleet/rbee/shared/api"
)

const (
	getSQL  = `SELECT ` + selectColumns + ` FROM hives WHERE node_name = :node_name`
	listSQL = `SELECT ` + selectColumns + ` FROM hives ORDER BY node_name`
)

// Get returns the node called name, or an error wrapping ErrNotFound.
func (r *Registry) Get(ctx context.Context, name string) (api.Node, error) {
	nodes, err := r.store.nodes(ctx, getSQL, map[string]any{":node_name": name})
	if err != nil {
		return api.Node{}, fmt.Errorf("get hive %q: %w", name, err)
	}
	if len(nodes) == 0 {
		return api.Node{}, fmt.Errorf("get hive: %w", notFoundError(name))
	}
	return nodes[0], nil
}

// List returns every node, ordered by name.
func (r *Registry) List(ctx context.Context) ([]api.Node, error) {
	nodes, err := r.store.nodes(ctx, listSQL, nil)
	if err != nil {
		return nil, fmt.Errorf("list hives: %w", err)
	}
	return nodes, nil
}
