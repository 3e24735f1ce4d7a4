package hiveregistry

import (
	"context"
	"fmt"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

const setStatusFromSQL = `UPDATE hives SET status = :status,
	last_connected_unix = COALESCE(CAST(:last_connected_unix AS BIGINT), last_connected_unix), updated_unix = :updated_unix
WHERE node_name = :node_name AND status = :from;`

// SetStatusFrom sets the status of the node called name to status only
// while it is still from, and reports whether it did: a status written by
// someone else since the caller read from (say `hive stop` setting
// stopped) is never overwritten. lastConnected is as for SetStatus.
func (r *Registry) SetStatusFrom(ctx context.Context, name, from, status string, lastConnected *time.Time) (bool, error) {
	defer r.wrote()
	if err := api.ValidateStatus(status); err != nil {
		return false, fmt.Errorf("set status of hive %q: %w", name, err)
	}
	changed, err := r.store.write(ctx, stmt{setStatusFromSQL, map[string]any{
		":status": status, ":from": from, ":last_connected_unix": unixOrNil(lastConnected),
		":node_name": name, ":updated_unix": r.now().Unix(),
	}})
	if err != nil {
		return false, fmt.Errorf("set status of hive %q: %w", name, err)
	}
	return changed == 1, nil
}
