package hiveregistry

import (
	"context"
	"fmt"

	"github.com/rbee-fleet/rbee/shared/api"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

const (
	getSQL  = `SELECT ` + selectColumns + ` FROM hives WHERE node_name = :node_name;`
	listSQL = `SELECT ` + selectColumns + ` FROM hives ORDER BY node_name;`
)

// Get returns the node called name, or an error wrapping ErrNotFound.
func (r *Registry) Get(ctx context.Context, name string) (api.Node, error) {
	conn, err := r.pool.Take(ctx)
	if err != nil {
		return api.Node{}, fmt.Errorf("get hive %q: %w", name, err)
	}
	defer r.pool.Put(conn)
	n, err := getNode(conn, name)
	if err != nil {
		return api.Node{}, fmt.Errorf("get hive: %w", err)
	}
	return n, nil
}

// List returns every node, ordered by name.
func (r *Registry) List(ctx context.Context) ([]api.Node, error) {
	conn, err := r.pool.Take(ctx)
	if err != nil {
		return nil, fmt.Errorf("list hives: %w", err)
	}
	defer r.pool.Put(conn)
	nodes := []api.Node{}
	err = sqlitex.Execute(conn, listSQL, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			nodes = append(nodes, scanNode(stmt))
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("list hives: %w", err)
	}
	return nodes, nil
}

// getNode reads one node on conn, inside whatever transaction is open.
func getNode(conn *sqlite.Conn, name string) (api.Node, error) {
	var n api.Node
	found := false
	err := sqlitex.Execute(conn, getSQL, &sqlitex.ExecOptions{
		Named: map[string]any{":node_name": name},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			n, found = scanNode(stmt), true
			return nil
		},
	})
	if err != nil {
		return api.Node{}, fmt.Errorf("read %q: %w", name, err)
	}
	if !found {
		return api.Node{}, notFoundError(name)
	}
	return n, nil
}
