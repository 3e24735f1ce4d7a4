package api

import (
	"errors"
	"strconv"
)

// Defaults of an add-node request.
const (
	// DefaultSSHPort is the SSH port when none is given.
	DefaultSSHPort = 22
	// DefaultGitBranch is the branch built when none is given.
	DefaultGitBranch = "main"
	// DefaultAgentPort is the port the hive agent listens on.
	DefaultAgentPort = 7835
	// DefaultConnectTimeoutMS is the SSH connect timeout (TCP and handshake)
	// per attempt, in milliseconds.
	DefaultConnectTimeoutMS = 10_000
)

// Bounds of connect_timeout_ms.
const (
	// MinConnectTimeoutMS is the shortest connect timeout accepted.
	MinConnectTimeoutMS = 100
	// MaxConnectTimeoutMS is the longest connect timeout accepted (5 min).
	MaxConnectTimeoutMS = 300_000
)

const ruleConnectTimeout = "must be 0 (10s default) or 100–300000 milliseconds"

// AddNodeRequest is the body of POST /v1/hives (queen setup add-node). The
// queen validates SSH to the node, pins its host key and saves the row.
type AddNodeRequest struct {
	// Name is the new node's DNS-safe name. Required.
	Name string `json:"name"`
	// SSHHost is a hostname, an IP address or an ~/.ssh/config alias. Required.
	SSHHost string `json:"ssh_host"`
	// SSHPort is the SSH port; 0 means 22.
	SSHPort int `json:"ssh_port,omitempty"`
	// SSHUser is the login name; empty means ~/.ssh/config or the queen's user.
	SSHUser string `json:"ssh_user,omitempty"`
	// SSHKeyPath is an absolute path to a private key on the queen's machine,
	// '~' already expanded by the client; empty means ssh-agent.
	SSHKeyPath string `json:"ssh_key_path,omitempty"`
	// GitRepoURL is the repository the hive clones. Required.
	GitRepoURL string `json:"git_repo_url"`
	// GitBranch is the branch to build; empty means main.
	GitBranch string `json:"git_branch,omitempty"`
	// InstallPath is where the agent goes on the hive ('/…' or '~/…'). Required.
	InstallPath string `json:"install_path"`
	// AgentPort is the agent's listen port; 0 means 7835.
	AgentPort int `json:"agent_port,omitempty"`
	// HostKeyFingerprint, when set, is the host key the node must present
	// ("SHA256:…"); empty means trust on first use.
	HostKeyFingerprint string `json:"host_key_fingerprint,omitempty"`
	// ConnectTimeoutMS bounds each SSH connect attempt (TCP and handshake),
	// in milliseconds; 0 means 10 s.
	ConnectTimeoutMS int64 `json:"connect_timeout_ms,omitempty"`
	// Transport is how the queen's runtime traffic reaches the agent:
	// "ssh" or "http"; empty means DefaultTransport.
	Transport string `json:"transport,omitempty"`
}

// Defaults fills the zero-valued optional fields with their defaults.
func (r *AddNodeRequest) Defaults() {
	if r.SSHPort == 0 {
		r.SSHPort = DefaultSSHPort
	}
	if r.GitBranch == "" {
		r.GitBranch = DefaultGitBranch
	}
	if r.AgentPort == 0 {
		r.AgentPort = DefaultAgentPort
	}
	if r.ConnectTimeoutMS == 0 {
		r.ConnectTimeoutMS = DefaultConnectTimeoutMS
	}
}

// Validate checks every field and returns all broken rules joined; each is a
// [*FieldError] wrapping [ErrInvalid]. Zero values that Defaults fills in
// are accepted.
func (r AddNodeRequest) Validate() error {
	return errors.Join(
		validateNodeName("name", r.Name),
		validateSSHHost("ssh_host", r.SSHHost),
		validatePort("ssh_port", r.SSHPort, true),
		validateSSHUser("ssh_user", r.SSHUser),
		validateKeyPath("ssh_key_path", r.SSHKeyPath),
		validateGitRepoURL("git_repo_url", r.GitRepoURL),
		validateOptionalBranch("git_branch", r.GitBranch),
		validateNewInstallPath("install_path", r.InstallPath),
		validatePort("agent_port", r.AgentPort, true),
		validateFingerprint("host_key_fingerprint", r.HostKeyFingerprint),
		validateConnectTimeout("connect_timeout_ms", r.ConnectTimeoutMS),
		validateOptionalTransport("transport", r.Transport),
	)
}

// validateOptionalBranch accepts an empty branch, which Defaults fills in.
func validateOptionalBranch(field, b string) error {
	if b == "" {
		return nil
	}
	return validateGitBranch(field, b)
}

// validateConnectTimeout checks a connect timeout in milliseconds.
func validateConnectTimeout(field string, ms int64) error {
	if ms != 0 && (ms < MinConnectTimeoutMS || ms > MaxConnectTimeoutMS) {
		return fieldErr(field, strconv.FormatInt(ms, 10), ruleConnectTimeout)
	}
	return nil
}
