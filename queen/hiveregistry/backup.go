package hiveregistry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// ErrCorrupt is wrapped by the error of a registry file that fails SQLite's
// quick check.
var ErrCorrupt = errors.New("hive registry is damaged")

// QuickCheck returns an error wrapping ErrCorrupt when the registry is
// damaged. On SQLite it runs PRAGMA quick_check and reports SQLite's first
// findings; on PostgreSQL it runs SELECT 1 and checks that the schema
// version is the one this queen migrates to (a newer or missing version
// wraps ErrCorrupt too).
func (r *Registry) QuickCheck(ctx context.Context) error {
	return r.store.quickCheck(ctx)
}

func quickCheck(conn *sqlite.Conn) error {
	var findings []string
	err := sqlitex.ExecuteTransient(conn, "PRAGMA quick_check(5);", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			findings = append(findings, stmt.ColumnText(0))
			return nil
		},
	})
	switch {
	case err != nil && sqlite.ErrCode(err).ToPrimary() == sqlite.ResultCorrupt:
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	case err != nil:
		return fmt.Errorf("check hive registry: %w", err)
	case len(findings) != 1 || findings[0] != "ok":
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(findings, "; "))
	}
	return nil
}

// Backup copies the registry file at src into a new file dst (mode 0600)
// with SQLite's online backup: the copy is consistent even while a queen
// writes to src. dst must not exist. The copy is quick-checked; on any
// failure dst is removed. src may be a store spec ("sqlite:<path>"); a
// PostgreSQL DSN is refused: back PostgreSQL up with its own tools
// (pg_dump, or base backups with WAL archiving for point-in-time recovery).
func Backup(ctx context.Context, src, dst string) (err error) {
	switch kind, path := storeKind(src); kind {
	case "postgres":
		return fmt.Errorf("%s is a PostgreSQL registry: `queen db backup` copies SQLite files only; back it up with pg_dump (or base backups with WAL archiving for point-in-time recovery)", redact(src))
	case "sqlite":
		src = path
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("no hive registry at %s: %w; pass the queen's --data-dir", src, err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: a backup never overwrites a file; pick a new name or remove it first", dst)
	}
	if err != nil {
		return fmt.Errorf("create backup %s: %w", dst, err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	return copyDatabase(ctx, src, dst)
}

// copyDatabase runs the backup from src into the empty file dst and checks
// the copy.
func copyDatabase(ctx context.Context, src, dst string) error {
	from, err := sqlite.OpenConn(src, sqlite.OpenReadOnly)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer from.Close()
	from.SetInterrupt(ctx.Done())
	to, err := sqlite.OpenConn(dst, sqlite.OpenReadWrite)
	if err != nil {
		return fmt.Errorf("open %s: %w", dst, err)
	}
	defer to.Close()
	b, err := sqlite.NewBackup(to, "main", from, "main")
	if err != nil {
		return fmt.Errorf("back up %s: %w", src, err)
	}
	_, stepErr := b.Step(-1) // the whole file in one step: one consistent snapshot
	if err := errors.Join(stepErr, b.Close()); err != nil {
		return fmt.Errorf("back up %s: %w", src, err)
	}
	if err := quickCheck(to); err != nil {
		return fmt.Errorf("check the backup %s: %w", dst, err)
	}
	return nil
}
