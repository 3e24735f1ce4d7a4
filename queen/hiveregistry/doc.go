// Package hiveregistry is the queen's persistent registry of hives: one row
// per node in a SQLite file (~/.rbee/beehives.db by default) holding how to
// reach the node over SSH, where the agent is installed, the pinned host key,
// the node's status, the outcome of its last install and the hash of its
// hive token.
//
// The status follows SSH and the agent's heartbeats; an install's outcome
// (installed, up to date, or failed with its phase, error and hint) is
// stored apart by RecordInstall and never changes the status, so a node
// whose install failed while its old agent keeps beating stays online.
// installing and install_failed are retired statuses: the CHECK constraint
// still admits them, but api.ValidateStatus refuses them.
//
// The file is created with mode 0600 in a 0700 directory and runs in WAL
// mode with a busy timeout, so concurrent callers in one process (and a
// second process) wait instead of failing. The schema is kept as data: an
// ordered list of migrations applied by sqlitemigration before any
// connection is handed out, so changing it means appending a string.
//
// Rows are [api.Node] values from shared/api, the one description of a node;
// the hive token hash lives only here and never appears in an api.Node.
// Removing a node keeps its hive token hash in a second table,
// removed_hives, so that a heartbeat of its agent can be told the node was
// removed; adding a node of that name again clears it.
package hiveregistry
