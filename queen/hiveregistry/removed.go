package hiveregistry

import (
	"context"
	"fmt"
)

const (
	// tombstoneSQL is an upsert both SQLite and PostgreSQL understand (the
	// SELECT has a WHERE, which SQLite needs before ON CONFLICT).
	tombstoneSQL = `INSERT INTO removed_hives (hive_token_hash, node_name, removed_unix)
SELECT hive_token_hash, node_name, CAST(:removed_unix AS BIGINT) FROM hives
WHERE node_name = :node_name AND hive_token_hash IS NOT NULL
ON CONFLICT (hive_token_hash) DO UPDATE SET node_name = excluded.node_name, removed_unix = excluded.removed_unix`
	removedNodeSQL  = `SELECT node_name FROM removed_hives WHERE hive_token_hash = :hash`
	clearRemovedSQL = `DELETE FROM removed_hives WHERE node_name = :node_name`
)

// RemoveRecordingToken deletes the node called name like Remove and, in the
// same transaction, records the hash of its hive token (when one is set) in
// removed_hives, so that RemovedNode can tell a removed node's agent from
// one with a wrong token. An unknown name returns an error wrapping
// ErrNotFound and records nothing.
func (r *Registry) RemoveRecordingToken(ctx context.Context, name string) error {
	defer r.wrote()
	changed, err := r.store.write(ctx,
		stmt{tombstoneSQL, map[string]any{":node_name": name, ":removed_unix": r.now().Unix()}},
		stmt{removeSQL, map[string]any{":node_name": name}})
	if err != nil {
		return fmt.Errorf("remove hive %q recording its token: %w", name, err)
	}
	if changed == 0 {
		return fmt.Errorf("remove hive: %w", notFoundError(name))
	}
	return nil
}

// RemovedNode returns the name of the removed node whose hive token had
// this hash, or an error wrapping ErrNoToken when no removed node had it.
func (r *Registry) RemovedNode(ctx context.Context, hash string) (string, error) {
	if hash == "" {
		return "", ErrNoToken
	}
	name, found, err := r.store.queryText(ctx, removedNodeSQL, map[string]any{":hash": hash})
	if err != nil {
		return "", fmt.Errorf("find removed node by token: %w", err)
	}
	if !found {
		return "", ErrNoToken
	}
	return name, nil
}

// ClearRemoved forgets the recorded hive tokens of removed nodes called
// name; adding a node of that name again calls it. Nothing recorded is no
// error.
func (r *Registry) ClearRemoved(ctx context.Context, name string) error {
	if _, err := r.store.write(ctx, stmt{clearRemovedSQL, map[string]any{":node_name": name}}); err != nil {
		return fmt.Errorf("clear removed hive %q: %w", name, err)
	}
	return nil
}
