package hiveregistry

import (
	"github.com/rbee-fleet/rbee/shared/api"
	"zombiezen.com/go/sqlite"
)

// nodeColumns are the columns an api.Node is read from; hive_token_hash is
// deliberately not among them.
const nodeColumns = `node_name, ssh_host, ssh_port, ssh_user, ssh_key_path, git_repo_url,
	git_branch, install_path, agent_port, status, host_key, last_connected_unix,
	installed_commit, agent_url, agent_version, created_unix, updated_unix, transport`

// installColumns hold the last install's record (api.InstallRecord). They
// are not in nodeColumns, which a new row is inserted with: a node is added
// before it was ever installed.
const installColumns = `last_install_result, last_install_phase, last_install_error,
	last_install_hint, last_install_unix`

// selectColumns are the columns an api.Node is read from.
const selectColumns = nodeColumns + ", " + installColumns

// scanNode reads the current row of a SELECT of selectColumns. A NULL
// last_connected_unix reads as 0 (never).
func scanNode(stmt *sqlite.Stmt) api.Node {
	n := api.Node{
		NodeName:          stmt.GetText("node_name"),
		SSHHost:           stmt.GetText("ssh_host"),
		SSHPort:           int(stmt.GetInt64("ssh_port")),
		SSHUser:           stmt.GetText("ssh_user"),
		SSHKeyPath:        stmt.GetText("ssh_key_path"),
		GitRepoURL:        stmt.GetText("git_repo_url"),
		GitBranch:         stmt.GetText("git_branch"),
		InstallPath:       stmt.GetText("install_path"),
		AgentPort:         int(stmt.GetInt64("agent_port")),
		Status:            stmt.GetText("status"),
		HostKey:           stmt.GetText("host_key"),
		LastConnectedUnix: stmt.GetInt64("last_connected_unix"),
		InstalledCommit:   stmt.GetText("installed_commit"),
		AgentURL:          stmt.GetText("agent_url"),
		AgentVersion:      stmt.GetText("agent_version"),
		CreatedUnix:       stmt.GetInt64("created_unix"),
		UpdatedUnix:       stmt.GetInt64("updated_unix"),
		LastInstall:       scanInstallRecord(stmt),
		Transport:         stmt.GetText("transport"),
	}
	n.HostKeyFingerprint = fingerprint(n.HostKey)
	return n
}

// scanInstallRecord reads the installColumns of the current row.
func scanInstallRecord(stmt *sqlite.Stmt) api.InstallRecord {
	return api.InstallRecord{
		Result:       stmt.GetText("last_install_result"),
		Phase:        stmt.GetText("last_install_phase"),
		Error:        stmt.GetText("last_install_error"),
		Hint:         stmt.GetText("last_install_hint"),
		FinishedUnix: stmt.GetInt64("last_install_unix"),
	}
}

// installArgs binds rec to the named parameters of the installColumns.
func installArgs(rec api.InstallRecord) map[string]any {
	return map[string]any{
		":last_install_result": rec.Result,
		":last_install_phase":  rec.Phase,
		":last_install_error":  rec.Error,
		":last_install_hint":   rec.Hint,
		":last_install_unix":   rec.FinishedUnix,
	}
}

// nodeArgs binds n to the named parameters of insertSQL and, with
// installArgs, of updateSQL.
// last_connected_unix 0 is stored as NULL by the statements.
func nodeArgs(n api.Node) map[string]any {
	return map[string]any{
		":node_name":           n.NodeName,
		":ssh_host":            n.SSHHost,
		":ssh_port":            n.SSHPort,
		":ssh_user":            n.SSHUser,
		":ssh_key_path":        n.SSHKeyPath,
		":git_repo_url":        n.GitRepoURL,
		":git_branch":          n.GitBranch,
		":install_path":        n.InstallPath,
		":agent_port":          n.AgentPort,
		":status":              n.Status,
		":host_key":            n.HostKey,
		":last_connected_unix": n.LastConnectedUnix,
		":installed_commit":    n.InstalledCommit,
		":agent_url":           n.AgentURL,
		":agent_version":       n.AgentVersion,
		":created_unix":        n.CreatedUnix,
		":updated_unix":        n.UpdatedUnix,
		":transport":           n.Transport,
	}
}

// fingerprint derives the SHA256 fingerprint of a pinned host key; a key
// that does not parse (it passed validation, so only a hand-edited file)
// has none.
func fingerprint(hostKey string) string {
	if hostKey == "" {
		return ""
	}
	fp, err := api.HostKeyFingerprint(hostKey)
	if err != nil {
		return ""
	}
	return fp
}

// checkedNode derives the fingerprint and validates n as a whole row.
func checkedNode(n api.Node) (api.Node, error) {
	n.HostKeyFingerprint = fingerprint(n.HostKey)
	return n, n.Validate()
}
