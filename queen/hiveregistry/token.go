package hiveregistry

import (
	"context"
	"fmt"
)

const (
	setTokenHashSQL = `UPDATE hives SET hive_token_hash = NULLIF(:hash, ''), updated_unix = :updated_unix
WHERE node_name = :node_name`
	tokenHashSQL = `SELECT hive_token_hash FROM hives WHERE node_name = :node_name`
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
	hash, found, err := r.store.queryText(ctx, tokenHashSQL, map[string]any{":node_name": name})
	if err != nil {
		return "", fmt.Errorf("read token hash of hive %q: %w", name, err)
	}
	if !found {
		return "", fmt.Errorf("read token hash: %w", notFoundError(name))
	}
	return hash, nil
}
