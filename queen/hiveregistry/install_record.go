package hiveregistry

import (
	"context"
	"fmt"

	"github.com/rbee-fleet/rbee/shared/api"
)

const recordInstallSQL = `UPDATE hives SET last_install_result = :last_install_result,
	last_install_phase = :last_install_phase, last_install_error = :last_install_error,
	last_install_hint = :last_install_hint, last_install_unix = :last_install_unix,
	updated_unix = :updated_unix
WHERE node_name = :node_name`

// RecordInstall stores rec as the last install of the node called name and
// changes nothing else: the status stays what heartbeats made it, so a
// failed install while the old agent still beats leaves the node online.
// rec must pass validation (build it with api.NewInstallRecord, which cuts
// long messages); an unknown name returns an error wrapping ErrNotFound.
func (r *Registry) RecordInstall(ctx context.Context, name string, rec api.InstallRecord) error {
	if rec.Result == "" {
		return fmt.Errorf("record install of hive %q: %w", name,
			&api.FieldError{Field: "last_install.result", Value: "", Rule: "must be installed, up to date or failed"})
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("record install of hive %q: %w", name, err)
	}
	return r.updateOne(ctx, "record install of hive", name, recordInstallSQL, installArgs(rec))
}
