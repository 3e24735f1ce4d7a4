package api

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of the fields the queen records about an installed agent.
const (
	// MaxAgentVersionLen is the longest agent_version.
	MaxAgentVersionLen = 128
	// MaxAgentURLLen is the longest agent_url.
	MaxAgentURLLen = 2048
	// MaxInstallErrorLen is the longest last_install.error; NewInstallRecord
	// keeps the head of a longer message.
	MaxInstallErrorLen = 8192
	// MaxInstallHintLen is the longest last_install.hint.
	MaxInstallHintLen = 1024
	// MaxInstallPhaseLen is the longest last_install.phase.
	MaxInstallPhaseLen = 64
	// ShortCommitLen is how many hex digits of a commit human output shows.
	ShortCommitLen = 12
)

const (
	ruleCommit    = "must be empty or 7–64 lowercase hex digits (a git commit)"
	ruleAgentURL  = "must be empty, an http or https URL with a host, or unix:// and an absolute socket path"
	ruleNotNeg    = "must not be negative"
	ruleResult    = "must be empty, installed, up to date or failed"
	ruleTransport = "must be ssh or http"
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
	// InstalledCommit is the git commit the installed agent was built
	// from: the full 40 hex digits since issue 9, 12 in older rows. Human
	// output shows [ShortCommit] of it.
	InstalledCommit string `json:"installed_commit"`
	// AgentURL is the base URL the queen reaches the agent at: under the
	// ssh transport an address on the node itself (unix:///<install
	// path>/run/hive-agent.sock, or http://127.0.0.1:<port>) that the
	// queen reaches over its SSH connection.
	AgentURL string `json:"agent_url"`
	// AgentVersion is the version the agent reported.
	AgentVersion string `json:"agent_version"`
	// BranchHead is the newest commit of GitBranch the queen saw (git
	// ls-remote over the node's connection, every --drift-interval and at
	// install --check); empty until it looked. The queen fills it in its
	// answers, the registry does not keep it. The node is behind when it
	// differs from InstalledCommit.
	BranchHead string `json:"branch_head,omitempty"`
	// BranchHeadCheckedUnix is when BranchHead was seen, in Unix seconds.
	BranchHeadCheckedUnix int64 `json:"branch_head_checked_unix,omitempty"`
	// CreatedUnix is when the node was added, in Unix seconds.
	CreatedUnix int64 `json:"created_unix"`
	// UpdatedUnix is when the row last changed, in Unix seconds.
	UpdatedUnix int64 `json:"updated_unix"`
	// LastInstall is the outcome of the node's last install, kept apart
	// from Status; absent from JSON until the node was first installed.
	LastInstall InstallRecord `json:"last_install,omitzero"`
	// Transport is how the queen's runtime traffic reaches the agent:
	// TransportSSH (over the queen's pooled SSH connection; the agent
	// listens on a Unix socket) or TransportHTTP (direct, the agent
	// listens on the network). Empty (a node made outside the registry)
	// means DefaultTransport.
	Transport string `json:"transport,omitempty"`
	// Connection is the state of the queen's pooled SSH connection to the
	// node; the queen fills it in its answers, the registry does not keep
	// it.
	Connection SSHConnection `json:"ssh_connection,omitzero"`
	// Devices are the node's devices as its agent last reported them in a
	// heartbeat; the queen fills it, absent until the agent reported.
	Devices *Devices `json:"devices,omitempty"`
}

// Transports of a node's runtime traffic.
const (
	// TransportSSH carries queen → agent calls over channels of the
	// queen's SSH connection and agent → queen calls over a remote
	// forward of it: the node needs only sshd reachable.
	TransportSSH = "ssh"
	// TransportHTTP is direct HTTP: the agent listens on the network and
	// reaches the queen's address itself.
	TransportHTTP = "http"
	// DefaultTransport is the transport of a node added without one.
	DefaultTransport = TransportSSH
)

// SSHConnection is the state of the queen's pooled SSH connection to a
// node.
type SSHConnection struct {
	// Connected says whether the connection is up.
	Connected bool `json:"connected"`
	// SinceUnix is when it connected, or when it dropped or last failed,
	// in Unix seconds; 0 means never tried since the queen started.
	SinceUnix int64 `json:"since_unix,omitempty"`
	// LastError is why it dropped or failed last; empty when it is up.
	LastError string `json:"last_error,omitempty"`
}

// InstallRecord is the outcome of a node's last install. Status follows the
// agent's heartbeats, so a failed install while the old agent keeps beating
// leaves the node online; this record is where the failure shows.
type InstallRecord struct {
	// Result is ResultInstalled, ResultUpToDate or ResultFailed.
	Result string `json:"result"`
	// Phase is the install phase that failed, e.g. "get binary".
	Phase string `json:"phase,omitempty"`
	// Error is why the install failed; it may span lines (a compiler's
	// output) and is at most MaxInstallErrorLen bytes.
	Error string `json:"error,omitempty"`
	// Hint is the next step after a failure.
	Hint string `json:"hint,omitempty"`
	// FinishedUnix is when the install ended, in Unix seconds.
	FinishedUnix int64 `json:"finished_unix"`
}

// NewInstallRecord returns the record of an install that ended at
// finishedUnix with res, its error and hint cut to their limits.
func NewInstallRecord(res InstallResult, finishedUnix int64) InstallRecord {
	rec := InstallRecord{Result: res.Result, Phase: headOf(res.Phase, MaxInstallPhaseLen), FinishedUnix: finishedUnix}
	if res.Error != nil {
		rec.Error = headOf(res.Error.Message, MaxInstallErrorLen)
		rec.Hint = headOf(res.Error.Hint, MaxInstallHintLen)
	}
	return rec
}

// headOf returns at most max bytes of s, cut at a rune boundary.
func headOf(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1] // a rune cut in two
	}
	return s
}

// Validate checks the record as part of a node: the zero record (never
// installed) is valid. Errors name the fields as last_install.result etc.
func (r InstallRecord) Validate() error {
	return r.validate("last_install")
}

// validate checks the record under the field prefix.
func (r InstallRecord) validate(field string) error {
	var errs []error
	if r.Result != "" && !slices.Contains([]string{ResultInstalled, ResultUpToDate, ResultFailed}, r.Result) {
		errs = append(errs, fieldErr(field+".result", r.Result, ruleResult))
	}
	if hasControl(r.Phase) {
		errs = append(errs, fieldErr(field+".phase", r.Phase, ruleNoControl))
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"phase", r.Phase, MaxInstallPhaseLen}, {"error", r.Error, MaxInstallErrorLen}, {"hint", r.Hint, MaxInstallHintLen}} {
		if len(f.v) > f.max {
			errs = append(errs, fieldErr(field+"."+f.name, headOf(f.v, 32)+"…", tooLong(f.max)))
		}
	}
	return errors.Join(append(errs, validateUnix(field+".finished_unix", r.FinishedUnix))...)
}

// IsCommit reports whether s is a git commit as the queen stores one: 7 to
// 64 lowercase hex digits. A "dev" build's version is not.
func IsCommit(s string) bool {
	return s != "" && validateCommit("", s) == nil
}

// SameCommit reports whether a and b name the same commit: both are commits
// ([IsCommit]) and one is a prefix of the other, so an agent stamped with
// 12 hex digits matches the full commit install recorded.
func SameCommit(a, b string) bool {
	return IsCommit(a) && IsCommit(b) && (strings.HasPrefix(a, b) || strings.HasPrefix(b, a))
}

// ShortCommit returns the first ShortCommitLen characters of a commit, for
// people; other strings are returned as they are.
func ShortCommit(c string) string {
	if IsCommit(c) && len(c) > ShortCommitLen {
		return c[:ShortCommitLen]
	}
	return c
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
		n.LastInstall.Validate(),
		validateOptionalTransport("transport", n.Transport),
	)
}

// validateTransport checks a transport name.
func validateTransport(field, t string) error {
	if t != TransportSSH && t != TransportHTTP {
		return fieldErr(field, t, ruleTransport)
	}
	return nil
}

// validateOptionalTransport accepts "" (the default) besides the names.
func validateOptionalTransport(field, t string) error {
	if t == "" {
		return nil
	}
	return validateTransport(field, t)
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
	if p, ok := strings.CutPrefix(s, "unix://"); ok {
		if !strings.HasPrefix(p, "/") {
			return fieldErr(field, s, ruleAgentURL)
		}
		return nil
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
