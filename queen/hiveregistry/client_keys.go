package hiveregistry

import (
	"context"
	"errors"
	"fmt"

	"github.com/rbee-fleet/rbee/shared/api"
)

var (
	// ErrKeyExists is returned by AddClientKey when a key in force has
	// that name.
	ErrKeyExists = errors.New("client key already exists")
	// ErrKeyNotFound is returned by RevokeClientKey when no key in force
	// has that name.
	ErrKeyNotFound = errors.New("client key not found")
	// ErrNoKey is returned by ClientKeyByHash for a hash no key in force
	// has.
	ErrNoKey = errors.New("no client key has this hash")
)

const (
	// addKeySQL inserts a key, or replaces a revoked one of the same name;
	// a key in force is never overwritten (no row changes).
	addKeySQL = `INSERT INTO client_keys (name, key_hash, scope, created_unix) VALUES (:name, :hash, :scope, :now)
	ON CONFLICT (name) DO UPDATE SET key_hash = excluded.key_hash, scope = excluded.scope,
	created_unix = excluded.created_unix, revoked_unix = 0 WHERE client_keys.revoked_unix <> 0`
	listKeysSQL  = `SELECT name, scope, created_unix, revoked_unix FROM client_keys ORDER BY name`
	revokeKeySQL = `UPDATE client_keys SET revoked_unix = :now WHERE name = :name AND revoked_unix = 0`
	keyByHashSQL = `SELECT name FROM client_keys WHERE key_hash = :hash AND revoked_unix = 0`
)

// AddClientKey stores a new gateway key by the SHA-256 hex of the key
// (the key itself is never stored). A revoked key's name may be used
// again; a name in force returns an error wrapping ErrKeyExists.
func (r *Registry) AddClientKey(ctx context.Context, name, keyHash string) (api.ClientKey, error) {
	k := api.ClientKey{Name: name, Scope: api.ScopeGateway, CreatedUnix: r.now().Unix()}
	changes, err := r.store.write(ctx, stmt{addKeySQL, map[string]any{
		":name": name, ":hash": keyHash, ":scope": k.Scope, ":now": k.CreatedUnix}})
	if err != nil {
		return api.ClientKey{}, fmt.Errorf("add client key %q: %w", name, err)
	}
	if changes == 0 {
		return api.ClientKey{}, fmt.Errorf("%w: %q; revoke it first with `queen keys revoke --name %s` or pick another name",
			ErrKeyExists, name, name)
	}
	return k, nil
}

// ClientKeys lists every key, in force or revoked, by name.
func (r *Registry) ClientKeys(ctx context.Context) ([]api.ClientKey, error) {
	keys, err := r.store.clientKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list client keys: %w", err)
	}
	return keys, nil
}

// RevokeClientKey revokes the key in force named name; none returns an
// error wrapping ErrKeyNotFound.
func (r *Registry) RevokeClientKey(ctx context.Context, name string) error {
	changes, err := r.store.write(ctx, stmt{revokeKeySQL, map[string]any{":name": name, ":now": r.now().Unix()}})
	if err != nil {
		return fmt.Errorf("revoke client key %q: %w", name, err)
	}
	if changes == 0 {
		return fmt.Errorf("%w: %q; list the keys with `queen keys list`", ErrKeyNotFound, name)
	}
	return nil
}

// ClientKeyByHash returns the name of the key in force whose SHA-256 hex is
// hash, or an error wrapping ErrNoKey.
func (r *Registry) ClientKeyByHash(ctx context.Context, hash string) (string, error) {
	name, found, err := r.store.queryText(ctx, keyByHashSQL, map[string]any{":hash": hash})
	if err != nil {
		return "", fmt.Errorf("find client key: %w", err)
	}
	if !found {
		return "", ErrNoKey
	}
	return name, nil
}
