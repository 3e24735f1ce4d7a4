package hiveregistry

import (
	"context"
	"fmt"
	"strings"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// IntegrityCheck runs PRAGMA integrity_check and returns its report: "ok"
// for a sound file, else one problem per line.
func (r *Registry) IntegrityCheck(ctx context.Context) (string, error) {
	conn, err := r.pool.Take(ctx)
	if err != nil {
		return "", fmt.Errorf("check hive registry integrity: %w", err)
	}
	defer r.pool.Put(conn)
	var lines []string
	err = sqlitex.ExecuteTransient(conn, "PRAGMA integrity_check;", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			lines = append(lines, stmt.ColumnText(0))
			return nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("check hive registry integrity: %w", err)
	}
	return strings.Join(lines, "\n"), nil
}
