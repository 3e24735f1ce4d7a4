package hiveregistry

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoToken is returned by NodeByTokenHash for a hash no node has.
var ErrNoToken = errors.New("no node has this hive token")

const (
	setTokensSQL = `UPDATE hives SET hive_token_hash = NULLIF(:hash, ''), agent_token = NULLIF(:agent_token, ''),
	updated_unix = :updated_unix WHERE node_name = :node_name`
	agentTokenSQL = `SELECT agent_token FROM hives WHERE node_name = :node_name`
	nodeByHashSQL = `SELECT node_name FROM hives WHERE hive_token_hash = :hash`
)

// SetTokens stores, in one write, the hash of the node's hive token (the
// agent's credential towards the queen) and the agent token (the queen's
// credential towards the agent, kept in clear because the queen presents
// it). "" clears a value. An unknown name returns an error wrapping
// ErrNotFound.
func (r *Registry) SetTokens(ctx context.Context, name, hiveTokenHash, agentToken string) error {
	return r.updateOne(ctx, "set tokens of hive", name, setTokensSQL,
		map[string]any{":hash": hiveTokenHash, ":agent_token": agentToken})
}

// AgentToken returns the token the queen presents to the node's agent, ""
// when none is set (the agent was installed before agent tokens existed).
func (r *Registry) AgentToken(ctx context.Context, name string) (string, error) {
	token, found, err := r.store.queryText(ctx, agentTokenSQL, map[string]any{":node_name": name})
	if err != nil {
		return "", fmt.Errorf("read agent token of hive %q: %w", name, err)
	}
	if !found {
		return "", fmt.Errorf("read agent token: %w", notFoundError(name))
	}
	return token, nil
}

// NodeByTokenHash returns the node whose hive token has this hash, or an
// error wrapping ErrNoToken.
func (r *Registry) NodeByTokenHash(ctx context.Context, hash string) (string, error) {
	if hash == "" {
		return "", ErrNoToken
	}
	name, found, err := r.store.queryText(ctx, nodeByHashSQL, map[string]any{":hash": hash})
	if err != nil {
		return "", fmt.Errorf("find node by token: %w", err)
	}
	if !found {
		return "", ErrNoToken
	}
	return name, nil
}
