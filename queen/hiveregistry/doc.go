// Package hiveregistry is the queen's persistent registry of hives: one row
// per node holding how to reach the node over SSH, where the agent is
// installed, the pinned host key, the node's status, the outcome of its
// last install and the hash of its hive token, plus the gateway's client
// keys.
//
// # Two stores
//
// The rows live in one of two stores behind one [Registry] type, chosen by
// [OpenStore]'s spec:
//
//   - SQLite ("sqlite:<path>" or a bare path; [Open]): one file,
//     ~/.rbee/beehives.db by default, for a single queen. The file is
//     created with mode 0600 in a 0700 directory and runs in WAL mode with
//     synchronous=FULL and a busy timeout, so concurrent callers in one
//     process (and a second process) wait instead of failing.
//   - PostgreSQL ("postgres://…" or "postgresql://…", a pgx DSN): a
//     database several queens share, the HA pair's store. Writes that must
//     not interleave lock the row (SELECT … FOR UPDATE) where SQLite takes
//     its IMMEDIATE write lock.
//
// Validation, time stamps and the [Registry.Changed] notification live in
// Registry, and the statements are written once, in the SQL both
// understand (the PostgreSQL store rewrites their :name parameters), so
// both stores behave the same; one test suite runs against both.
//
// # Fencing
//
// [Options.Fence] guards every write to a PostgreSQL store: each write
// (add, update, status, tokens, install record, removal, client keys) runs
// in one transaction that calls the fence first and is rolled back with
// the fence's error, wrapped, when it returns one. A queen that holds a
// lease checks its lease epoch there, so a queen that lost the lease
// (paused, partitioned) cannot write after another took over. Reads are
// not fenced; SQLite ignores the fence.
//
// # Migrations
//
// The schema is kept as data: an ordered list of migrations per store
// (migrations for SQLite, pgMigrations for PostgreSQL, entry for entry the
// same tables, columns, defaults and constraints; a test compares them),
// so changing it means appending a string to both. SQLite applies them
// with sqlitemigration (user_version, application_id) before any
// connection is handed out. PostgreSQL applies the pending ones in one
// transaction under a transaction-level advisory lock, so queens that
// start at once migrate once, and records the version in the table
// hive_registry_schema; a database newer than the queen is refused. Types
// differ only in spelling: SQLite's INTEGER is BIGINT, times are Unix
// seconds in both, and the name columns collate as "C" so lists sort by
// bytes as in SQLite.
//
// # Errors and maintenance
//
// Both stores report the same sentinels (ErrExists, ErrNotFound, …).
// [IsBusy] is true for a SQLite lock held past the busy timeout and for a
// PostgreSQL serialization failure, deadlock, lock_timeout or an
// unreachable server: nothing was written and the caller may try again.
// [Registry.QuickCheck] is PRAGMA quick_check on SQLite and SELECT 1 plus
// the schema version on PostgreSQL. [Backup] copies a SQLite file online;
// a PostgreSQL registry is backed up with its own tools (pg_dump, or base
// backups with WAL archiving for point-in-time recovery).
//
// # Rows
//
// The status follows SSH and the agent's heartbeats; an install's outcome
// (installed, up to date, or failed with its phase, error and hint) is
// stored apart by RecordInstall and never changes the status, so a node
// whose install failed while its old agent keeps beating stays online.
// installing and install_failed are retired statuses: the CHECK constraint
// still admits them, but api.ValidateStatus refuses them.
//
// Rows are [api.Node] values from shared/api, the one description of a node;
// the hive token hash lives only here and never appears in an api.Node.
// Removing a node keeps its hive token hash in a second table,
// removed_hives, so that a heartbeat of its agent can be told the node was
// removed; adding a node of that name again clears it.
package hiveregistry
