package hiveregistry

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

const (
	updateSQL = `UPDATE hives SET ssh_host = :ssh_host, ssh_port = :ssh_port, ssh_user = :ssh_user,
	ssh_key_path = :ssh_key_path, git_repo_url = :git_repo_url, git_branch = :git_branch,
	install_path = :install_path, agent_port = :agent_port, status = :status, host_key = :host_key,
	last_connected_unix = NULLIF(CAST(:last_connected_unix AS BIGINT), 0), installed_commit = :installed_commit,
	agent_url = :agent_url, agent_version = :agent_version, created_unix = :created_unix,
	updated_unix = :updated_unix, last_install_result = :last_install_result,
	last_install_phase = :last_install_phase, last_install_error = :last_install_error,
	last_install_hint = :last_install_hint, last_install_unix = :last_install_unix,
	transport = :transport
WHERE node_name = :node_name`

	setStatusSQL = `UPDATE hives SET status = :status,
	last_connected_unix = COALESCE(CAST(:last_connected_unix AS BIGINT), last_connected_unix), updated_unix = :updated_unix
WHERE node_name = :node_name`
)

const ruleRename = "cannot be changed; add the node under the new name and remove the old one"

// Update reads the node called name, lets fn change it, validates the result
// and writes it back, all in one transaction that locks the row first
// (SQLite: IMMEDIATE; PostgreSQL: SELECT … FOR UPDATE): concurrent updates
// run one after the other and none is lost. If fn returns an error nothing
// is written and Update returns that error, wrapped. fn must not rename the
// node; CreatedUnix is kept, UpdatedUnix is set to now and
// HostKeyFingerprint is derived from HostKey. An unknown name returns an
// error wrapping ErrNotFound.
func (r *Registry) Update(ctx context.Context, name string, fn func(*api.Node) error) (api.Node, error) {
	defer r.wrote()
	n, err := r.store.update(ctx, name, func(cur api.Node) (api.Node, error) { return r.modify(cur, fn) })
	if err != nil {
		return api.Node{}, fmt.Errorf("update hive %q: %w", name, err)
	}
	return n, nil
}

// updateArgs binds n to the named parameters of updateSQL.
func updateArgs(n api.Node) map[string]any {
	args := nodeArgs(n)
	maps.Copy(args, installArgs(n.LastInstall))
	return args
}

// modify applies fn to a copy of the current row, keeping what fn may not
// change.
func (r *Registry) modify(cur api.Node, fn func(*api.Node) error) (api.Node, error) {
	next := cur
	if err := fn(&next); err != nil {
		return api.Node{}, err
	}
	if next.NodeName != cur.NodeName {
		return api.Node{}, &api.FieldError{Field: "node_name", Value: next.NodeName, Rule: ruleRename}
	}
	next.CreatedUnix = cur.CreatedUnix
	next.UpdatedUnix = r.now().Unix()
	return checkedNode(next)
}

// SetStatus sets the status of the node called name and, when lastConnected
// is not nil, the time SSH to it last succeeded. status must be one of
// api.Statuses(). An unknown name returns an error wrapping ErrNotFound.
func (r *Registry) SetStatus(ctx context.Context, name, status string, lastConnected *time.Time) error {
	if err := api.ValidateStatus(status); err != nil {
		return fmt.Errorf("set status of hive %q: %w", name, err)
	}
	return r.updateOne(ctx, "set status of hive", name, setStatusSQL, map[string]any{
		":status":              status,
		":last_connected_unix": unixOrNil(lastConnected),
	})
}

// unixOrNil is t in Unix seconds, or nil (keep the stored value) for nil.
func unixOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Unix()
}

// updateOne runs an UPDATE of the row called name with args plus
// :node_name and :updated_unix, and reports ErrNotFound when no row changed.
func (r *Registry) updateOne(ctx context.Context, op, name, query string, args map[string]any) error {
	defer r.wrote()
	args[":node_name"] = name
	args[":updated_unix"] = r.now().Unix()
	changed, err := r.store.write(ctx, stmt{query, args})
	if err != nil {
		return fmt.Errorf("%s %q: %w", op, name, err)
	}
	if changed == 0 {
		return fmt.Errorf("%s: %w", op, notFoundError(name))
	}
	return nil
}
