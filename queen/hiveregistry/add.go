package hiveregistry

import (
	"context"
	"fmt"

	"github.com/rbee-fleet/rbee/shared/api"
)

// insertSQL adds a row unless the name is taken; the caller tells the two
// apart by the number of changed rows, so a duplicate never overwrites.
const insertSQL = `INSERT INTO hives (` + nodeColumns + `)
VALUES (:node_name, :ssh_host, :ssh_port, :ssh_user, :ssh_key_path, :git_repo_url,
	:git_branch, :install_path, :agent_port, :status, :host_key, NULLIF(CAST(:last_connected_unix AS BIGINT), 0),
	:installed_commit, :agent_url, :agent_version, :created_unix, :updated_unix, :transport)
ON CONFLICT (node_name) DO NOTHING`

// Add registers a new node. CreatedUnix and UpdatedUnix default to now and
// HostKeyFingerprint is derived from HostKey. The node must pass
// api.Node.Validate (errors wrap api.ErrInvalid); a taken name returns an
// error wrapping ErrExists and leaves the existing row unchanged.
func (r *Registry) Add(ctx context.Context, n api.Node) error {
	defer r.wrote()
	n = r.stamped(n)
	n, err := checkedNode(n)
	if err != nil {
		return fmt.Errorf("add hive %q: %w", n.NodeName, err)
	}
	changed, err := r.store.write(ctx, stmt{insertSQL, nodeArgs(n)})
	if err != nil {
		return fmt.Errorf("add hive %q: %w", n.NodeName, err)
	}
	if changed == 0 {
		return existsError(n.NodeName)
	}
	return nil
}

// stamped fills in the creation and update times a new row lacks.
func (r *Registry) stamped(n api.Node) api.Node {
	if n.CreatedUnix == 0 {
		n.CreatedUnix = r.now().Unix()
	}
	if n.UpdatedUnix == 0 {
		n.UpdatedUnix = n.CreatedUnix
	}
	if n.Transport == "" {
		n.Transport = api.DefaultTransport
	}
	return n
}
