package api

import (
	"errors"
	"net/url"
	"strconv"
)

// Limits of the fields the queen records about an installed agent.
const (
	// MaxAgentVersionLen is the longest agent_version.
	MaxAgentVersionLen = 128
	// MaxAgentURLLen is the longest agent_url.
	MaxAgentURLLen = 2048
)

const (
	ruleCommit   = "must be empty or 7–64 lowercase hex digits (a git commit)"
	ruleAgentURL = "must be empty or an http or https URL with a host"
	ruleNotNeg   = "must not be negative"
)

// Node is one hive in the registry, as the queen returns it: the row of the
// hive registry without its secrets. The hashed hive token stays in the
// registry layer and never appears here.
type Node struct {
	// NodeName is the unique, DNS-safe name of the node (the primary key).
	NodeName string `json:"node_name"`
	// SSHHost is a hostname, an IP address or an ~/.ssh/config alias.
	SSHHost string `json:"ssh_host"`
	// SSHPort is the SSH port (default 22).
	SSHPort int `json:"ssh_port"`
	// SSHUser is the login name; empty means ~/.ssh/config or the queen's user.
	SSHUser string `json:"ssh_user"`
	// SSHKeyPath is an absolute path to a private key on the queen's machine;
	// empty means ssh-agent. The key itself is never stored.
	SSHKeyPath string `json:"ssh_key_path"`
	// GitRepoURL is the repository the hive clones the agent from.
	GitRepoURL string `json:"git_repo_url"`
	// GitBranch is the branch to build (default main).
	GitBranch string `json:"git_branch"`
	// InstallPath is where the agent lives on the hive: absolute, or under
	// '~' which the hive resolves.
	InstallPath string `json:"install_path"`
	// AgentPort is the port the hive agent listens on (default 7835).
	AgentPort int `json:"agent_port"`
	// Status is one of [Statuses].
	Status string `json:"status"`
	// HostKey is the pinned SSH host public key in authorized_keys format;
	// empty until the first successful connection.
	HostKey string `json:"host_key"`
	// HostKeyFingerprint is the SHA256 fingerprint of HostKey; the registry
	// derives it from HostKey, so a value set by a caller is replaced.
	HostKeyFingerprint string `json:"host_key_fingerprint"`
	// LastConnectedUnix is when SSH to the node last succeeded, in Unix
	// seconds; 0 means never.
	LastConnectedUnix int64 `json:"last_connected_unix"`
	// InstalledCommit is the git commit the installed agent was built from.
	InstalledCommit string `json:"installed_commit"`
	// AgentURL is the base URL the queen reaches the agent at.
	AgentURL string `json:"agent_url"`
	// AgentVersion is the version the agent reported.
	AgentVersion string `json:"agent_version"`
	// CreatedUnix is when the node was added, in Unix seconds.
	CreatedUnix int64 `json:"created_unix"`
	// UpdatedUnix is when the row last changed, in Unix seconds.
	UpdatedUnix int64 `json:"updated_unix"`
}

// Validate checks every field of a complete node, as the registry stores it:
// defaults already applied, status set.
func (n Node) Validate() error {
	return errors.Join(
		validateNodeName("node_name", n.NodeName),
		validateSSHHost("ssh_host", n.SSHHost),
		validatePort("ssh_port", n.SSHPort, false),
		validateSSHUser("ssh_user", n.SSHUser),
		validateKeyPath("ssh_key_path", n.SSHKeyPath),
		validateGitRepoURL("git_repo_url", n.GitRepoURL),
		validateGitBranch("git_branch", n.GitBranch),
		validateInstallPath("install_path", n.InstallPath),
		validatePort("agent_port", n.AgentPort, false),
		validateStatus("status", n.Status),
		validateHostKey("host_key", n.HostKey),
		validateFingerprint("host_key_fingerprint", n.HostKeyFingerprint),
		validateCommit("installed_commit", n.InstalledCommit),
		validateAgentURL("agent_url", n.AgentURL),
		validateAgentVersion("agent_version", n.AgentVersion),
		validateUnix("last_connected_unix", n.LastConnectedUnix),
		validateUnix("created_unix", n.CreatedUnix),
		validateUnix("updated_unix", n.UpdatedUnix),
	)
}

// validateCommit checks an abbreviated or full git object name.
func validateCommit(field, c string) error {
	if c == "" {
		return nil
	}
	if len(c) < 7 || len(c) > 64 {
		return fieldErr(field, c, ruleCommit)
	}
	for i := 0; i < len(c); i++ {
		if x := c[i]; !('0' <= x && x <= '9') && !('a' <= x && x <= 'f') {
			return fieldErr(field, c, ruleCommit)
		}
	}
	return nil
}

// validateAgentURL checks the agent's base URL.
func validateAgentURL(field, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxAgentURLLen || hasControl(s) {
		return fieldErr(field, s, ruleAgentURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldErr(field, s, ruleAgentURL)
	}
	return nil
}

// validateAgentVersion checks the version string an agent reported.
func validateAgentVersion(field, v string) error {
	switch {
	case hasControl(v):
		return fieldErr(field, v, ruleNoControl)
	case len(v) > MaxAgentVersionLen:
		return fieldErr(field, v, tooLong(MaxAgentVersionLen))
	}
	return nil
}

// validateUnix checks a Unix time in seconds.
func validateUnix(field string, t int64) error {
	if t < 0 {
		return fieldErr(field, strconv.FormatInt(t, 10), ruleNotNeg)
	}
	return nil
}
