package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
)

// dbCmd groups the commands on the queen's registry file.
type dbCmd struct {
	Backup dbBackupCmd `cmd:"" help:"Copy the hive registry into a new file, consistent even while the queen runs."`
}

// dbBackupCmd is `queen db backup FILE`.
type dbBackupCmd struct {
	File string `arg:"" type:"path" help:"The backup file to create; it must not exist."`
}

// Run copies <data-dir>/beehives.db into the new file and says how to
// restore it.
func (c *dbBackupCmd) Run(ctx context.Context, g *Globals) error {
	src := filepath.Join(g.DataDir, dbFile)
	if err := hiveregistry.Backup(ctx, src, c.File); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "backed up %s to %s\n", src, c.File)
	fmt.Fprintf(os.Stdout, "restore it with: %s\n", restoreSteps(c.File, src))
	return nil
}

// restoreSteps is how to put backup in place of the registry file db.
func restoreSteps(backup, db string) string {
	return fmt.Sprintf("stop `queen serve`, then `cp %s %s && rm -f %s-wal %s-shm`, then start `queen serve` again",
		backup, db, db, db)
}
