package hiveregistry

import "zombiezen.com/go/sqlite/sqlitemigration"

// appID marks the file as an rbee hive registry ("rbee" in ASCII), so Open
// refuses a SQLite file that belongs to something else.
const appID int32 = 0x72626565

// migrations is the schema, oldest first. Each entry runs once, in its own
// transaction. Never edit or reorder an entry that has shipped: append a new
// one instead.
//
// The status CHECK lists api.Statuses(); a test keeps the two in step.
var migrations = []string{
	`CREATE TABLE hives (
		node_name           TEXT    NOT NULL PRIMARY KEY CHECK (node_name <> ''),
		ssh_host            TEXT    NOT NULL CHECK (ssh_host <> ''),
		ssh_port            INTEGER NOT NULL DEFAULT 22 CHECK (ssh_port BETWEEN 1 AND 65535),
		ssh_user            TEXT    NOT NULL DEFAULT '',
		ssh_key_path        TEXT    NOT NULL DEFAULT '',
		git_repo_url        TEXT    NOT NULL,
		git_branch          TEXT    NOT NULL DEFAULT 'main',
		install_path        TEXT    NOT NULL,
		agent_port          INTEGER NOT NULL DEFAULT 7835 CHECK (agent_port BETWEEN 1 AND 65535),
		status              TEXT    NOT NULL CHECK (status IN ('reachable', 'unreachable', 'installing',
		                        'installed', 'install_failed', 'online', 'offline', 'stopped')),
		host_key            TEXT    NOT NULL DEFAULT '',
		last_connected_unix INTEGER,
		installed_commit    TEXT    NOT NULL DEFAULT '',
		agent_url           TEXT    NOT NULL DEFAULT '',
		agent_version       TEXT    NOT NULL DEFAULT '',
		hive_token_hash     TEXT,
		created_unix        INTEGER NOT NULL,
		updated_unix        INTEGER NOT NULL
	) STRICT;`,
	// The token the queen presents to the node's agent (the agent keeps its
	// hash), and an index to find a node by its hive token's hash.
	`ALTER TABLE hives ADD COLUMN agent_token TEXT;
	CREATE UNIQUE INDEX hives_hive_token_hash ON hives (hive_token_hash) WHERE hive_token_hash IS NOT NULL;`,
	// Hive tokens of nodes removed while their agent may still run, so a
	// heartbeat with one is told the node was removed (410), not that its
	// token is wrong.
	`CREATE TABLE removed_hives (
		hive_token_hash TEXT    NOT NULL PRIMARY KEY,
		node_name       TEXT    NOT NULL,
		removed_unix    INTEGER NOT NULL
	) STRICT;`,
	// The last install's outcome, kept apart from the status (which follows
	// heartbeats): result, failed phase, error message and hint, when.
	// installing and install_failed are no longer set; old rows get the
	// status their facts support.
	`ALTER TABLE hives ADD COLUMN last_install_result TEXT NOT NULL DEFAULT '';
	ALTER TABLE hives ADD COLUMN last_install_phase  TEXT NOT NULL DEFAULT '';
	ALTER TABLE hives ADD COLUMN last_install_error  TEXT NOT NULL DEFAULT '';
	ALTER TABLE hives ADD COLUMN last_install_hint   TEXT NOT NULL DEFAULT '';
	ALTER TABLE hives ADD COLUMN last_install_unix   INTEGER NOT NULL DEFAULT 0;
	UPDATE hives SET status = CASE WHEN agent_url <> '' THEN 'offline' ELSE 'reachable' END
		WHERE status IN ('installing', 'install_failed');`,
	// How the queen reaches the node's agent at run time: "http" (direct,
	// the agent listens on the network; every node added before this
	// column) or "ssh" (over the queen's pooled SSH connection).
	`ALTER TABLE hives ADD COLUMN transport TEXT NOT NULL DEFAULT 'http' CHECK (transport IN ('http', 'ssh'));`,
	// Client keys of the gateway: the queen keeps only their hash.
	`CREATE TABLE client_keys (
		name         TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
		key_hash     TEXT    NOT NULL UNIQUE,
		scope        TEXT    NOT NULL DEFAULT 'gateway',
		created_unix INTEGER NOT NULL,
		revoked_unix INTEGER NOT NULL DEFAULT 0
	) STRICT;`,
}

// schema returns the migration schema of the registry file.
func schema() sqlitemigration.Schema {
	return sqlitemigration.Schema{AppID: appID, Migrations: migrations}
}
