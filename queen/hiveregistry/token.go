package hiveregistry

import (
	"context"
	"fmt"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

const (
	setTokenHashSQL = `UPDATE hives SET hive_token_hash = NULLIF(:hash, ''), updated_unix = :updated_unix
WHERE node_name = :node_name;`
	tokenHashSQL = `SELECT hive_token_hash FROM hives WHERE node_name = :node_name;`
)

// SetHiveTokenHash stores the hash of the node's hive token; "" clears it.
// The hash is kept apart from api.Node and only HiveTokenHash reads it. An
// unknown name returns an error wrapping ErrNotFound.
func (r *Registry) SetHiveTokenHash(ctx context.Context, name, hash string) error {
	return r.updateOne(ctx, "set token hash of hive", name, setTokenHashSQL, map[string]any{":hash": hash})
}

// HiveTokenHash returns the stored hash of the node's hive token, "" when
// none is set. An unknown name returns an error wrapping ErrNotFound.
func (r *Registry) HiveTokenHash(ctx context.Context, name string) (string, error) {
	conn, err := r.pool.Take(ctx)
	if err != nil {
		return "", fmt.Errorf("read token hash of hive %q: %w", name, err)
	}
	defer r.pool.Put(conn)
	hash, found := "", false
	err = sqlitex.Execute(conn, tokenHashSQL, &sqlitex.ExecOptions{
		Named: map[string]any{":node_name": name},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			hash, found = stmt.ColumnText(0), true
			return nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("read token hash of hive %q: %w", name, err)
	}
	if !found {
		return "", fmt.Errorf("read token hash: %w", notFoundError(name))
	}
	return hash, nil
}
