package hiveregistry

import (
	"context"
	"fmt"
)

// IntegrityCheck returns "ok" for a sound registry, else one problem per
// line: on SQLite the report of PRAGMA integrity_check, on PostgreSQL the
// result of the same checks as QuickCheck (the server checks its own
// pages; run amcheck or pg_dump for a deeper look).
func (r *Registry) IntegrityCheck(ctx context.Context) (string, error) {
	report, err := r.store.integrityCheck(ctx)
	if err != nil {
		return "", fmt.Errorf("check hive registry integrity: %w", err)
	}
	return report, nil
}
