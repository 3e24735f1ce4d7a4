package hiveregistry

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgMigrations is the schema on PostgreSQL: entry i is migrations[i] (the
// SQLite schema) in PostgreSQL's dialect, with the same tables, columns,
// defaults and constraints, in the same order; a test keeps the two in
// step. Never edit or reorder an entry that has shipped: append to both.
//
// Differences: SQLite's INTEGER is BIGINT (times stay Unix seconds, so
// both stores hand back the same values); STRICT has no equivalent (a
// PostgreSQL column is always typed); the name columns use COLLATE "C" so
// that ORDER BY sorts by bytes, as SQLite does.
var pgMigrations = []string{
	`CREATE TABLE hives (
		node_name           TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (node_name <> ''),
		ssh_host            TEXT    NOT NULL CHECK (ssh_host <> ''),
		ssh_port            BIGINT  NOT NULL DEFAULT 22 CHECK (ssh_port BETWEEN 1 AND 65535),
		ssh_user            TEXT    NOT NULL DEFAULT '',
		ssh_key_path        TEXT    NOT NULL DEFAULT '',
		git_repo_url        TEXT    NOT NULL,
		git_branch          TEXT    NOT NULL DEFAULT 'main',
		install_path        TEXT    NOT NULL,
		agent_port          BIGINT  NOT NULL DEFAULT 7835 CHECK (agent_port BETWEEN 1 AND 65535),
		status              TEXT    NOT NULL CHECK (status IN ('reachable', 'unreachable', 'installing',
		                        'installed', 'install_failed', 'online', 'offline', 'stopped')),
		host_key            TEXT    NOT NULL DEFAULT '',
		last_connected_unix BIGINT,
		installed_commit    TEXT    NOT NULL DEFAULT '',
		agent_url           TEXT    NOT NULL DEFAULT '',
		agent_version       TEXT    NOT NULL DEFAULT '',
		hive_token_hash     TEXT,
		created_unix        BIGINT  NOT NULL,
		updated_unix        BIGINT  NOT NULL
	);`,
	`ALTER TABLE hives ADD COLUMN agent_token TEXT;
	CREATE UNIQUE INDEX hives_hive_token_hash ON hives (hive_token_hash) WHERE hive_token_hash IS NOT NULL;`,
	`CREATE TABLE removed_hives (
		hive_token_hash TEXT    NOT NULL PRIMARY KEY,
		node_name       TEXT    NOT NULL,
		removed_unix    BIGINT  NOT NULL
	);`,
	`ALTER TABLE hives ADD COLUMN last_install_result TEXT NOT NULL DEFAULT '';
	ALTER TABLE hives ADD COLUMN last_install_phase  TEXT NOT NULL DEFAULT '';
	ALTER TABLE hives ADD COLUMN last_install_error  TEXT NOT NULL DEFAULT '';
	ALTER TABLE hives ADD COLUMN last_install_hint   TEXT NOT NULL DEFAULT '';
	ALTER TABLE hives ADD COLUMN last_install_unix   BIGINT NOT NULL DEFAULT 0;
	UPDATE hives SET status = CASE WHEN agent_url <> '' THEN 'offline' ELSE 'reachable' END
		WHERE status IN ('installing', 'install_failed');`,
	`ALTER TABLE hives ADD COLUMN transport TEXT NOT NULL DEFAULT 'http' CHECK (transport IN ('http', 'ssh'));`,
	`CREATE TABLE client_keys (
		name         TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (name <> ''),
		key_hash     TEXT    NOT NULL UNIQUE,
		scope        TEXT    NOT NULL DEFAULT 'gateway',
		created_unix BIGINT  NOT NULL,
		revoked_unix BIGINT  NOT NULL DEFAULT 0
	);`,
}

const (
	// pgVersionTable records how many of pgMigrations a database has had;
	// its one row is keyed by appName, as SQLite's application_id marks
	// the file.
	pgVersionTable = `CREATE TABLE IF NOT EXISTS hive_registry_schema (
		app     TEXT   NOT NULL PRIMARY KEY,
		version BIGINT NOT NULL
	)`
	pgVersionSQL    = `SELECT version FROM hive_registry_schema WHERE app = 'rbee'`
	pgSetVersionSQL = `INSERT INTO hive_registry_schema (app, version) VALUES ('rbee', $1)
	ON CONFLICT (app) DO UPDATE SET version = excluded.version`
	// pgMigrateLock is the key of the transaction-level advisory lock the
	// migration holds ("rbee" in ASCII, as appID), so queens that start
	// at once migrate one after the other.
	pgMigrateLock int64 = 0x72626565
)

// migratePG applies the pending migrations in one transaction under the
// advisory lock: all or nothing, and never twice. A database whose version
// is newer than this queen's list is refused.
func migratePG(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrateLock); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, pgVersionTable); err != nil {
			return fmt.Errorf("create the schema version table: %w", err)
		}
		version, err := pgVersion(ctx, tx)
		if err != nil {
			return err
		}
		if version > len(pgMigrations) {
			return fmt.Errorf("the database has schema version %d, newer than this queen's %d: upgrade this queen", version, len(pgMigrations))
		}
		for i := version; i < len(pgMigrations); i++ {
			if _, err := tx.Exec(ctx, pgMigrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		_, err = tx.Exec(ctx, pgSetVersionSQL, len(pgMigrations))
		return err
	})
}

// pgVersion reads the schema version; no row is version 0.
func pgVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var v int
	err := q.QueryRow(ctx, pgVersionSQL).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	return v, nil
}
