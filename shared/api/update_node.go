package api

import "errors"

const ruleEmptyUpdate = "must change at least one field or set reset_host_key"

// UpdateNodeRequest is the body of PATCH /v1/hives/{name} (queen setup
// update-node). A nil field is left unchanged; the node is named by the URL
// path and cannot be renamed.
type UpdateNodeRequest struct {
	// SSHHost replaces the host when set.
	SSHHost *string `json:"ssh_host,omitempty"`
	// SSHPort replaces the SSH port when set (1–65535).
	SSHPort *int `json:"ssh_port,omitempty"`
	// SSHUser replaces the login name when set; "" hands the choice to ssh.
	SSHUser *string `json:"ssh_user,omitempty"`
	// SSHKeyPath replaces the key path when set; "" means ssh-agent.
	SSHKeyPath *string `json:"ssh_key_path,omitempty"`
	// GitRepoURL replaces the repository when set.
	GitRepoURL *string `json:"git_repo_url,omitempty"`
	// GitBranch replaces the branch when set (never empty).
	GitBranch *string `json:"git_branch,omitempty"`
	// InstallPath replaces the install path when set.
	InstallPath *string `json:"install_path,omitempty"`
	// AgentPort replaces the agent port when set (1–65535).
	AgentPort *int `json:"agent_port,omitempty"`
	// HostKeyFingerprint, when set, is the host key the node must present
	// when the queen re-validates SSH.
	HostKeyFingerprint *string `json:"host_key_fingerprint,omitempty"`
	// ResetHostKey forgets the pinned host key; the next connection pins the
	// key the node presents (or the one HostKeyFingerprint names).
	ResetHostKey bool `json:"reset_host_key,omitempty"`
	// ConnectTimeoutMS bounds each SSH connect attempt of the re-validation,
	// in milliseconds; 0 means 10 s.
	ConnectTimeoutMS int64 `json:"connect_timeout_ms,omitempty"`
	// Transport replaces the transport when set ("ssh" or "http"); the
	// agent follows at the next `queen setup install`.
	Transport *string `json:"transport,omitempty"`
}

// Validate checks every field that is set and returns all broken rules
// joined; each is a [*FieldError] wrapping [ErrInvalid]. A request that
// changes nothing is invalid too.
func (r UpdateNodeRequest) Validate() error {
	if r.isEmpty() {
		return fieldErr("request", "", ruleEmptyUpdate)
	}
	return errors.Join(
		validateSet("ssh_host", r.SSHHost, validateSSHHost),
		validateSetPort("ssh_port", r.SSHPort),
		validateSet("ssh_user", r.SSHUser, validateSSHUser),
		validateSet("ssh_key_path", r.SSHKeyPath, validateKeyPath),
		validateSet("git_repo_url", r.GitRepoURL, validateGitRepoURL),
		validateSet("git_branch", r.GitBranch, validateGitBranch),
		validateSet("install_path", r.InstallPath, validateNewInstallPath),
		validateSetPort("agent_port", r.AgentPort),
		validateSet("host_key_fingerprint", r.HostKeyFingerprint, validateFingerprint),
		validateConnectTimeout("connect_timeout_ms", r.ConnectTimeoutMS),
		validateSet("transport", r.Transport, validateTransport),
	)
}

// ChangesConnection reports whether the update touches how the queen reaches
// the node over SSH, so SSH must be validated again before saving.
func (r UpdateNodeRequest) ChangesConnection() bool {
	return r.SSHHost != nil || r.SSHPort != nil || r.SSHUser != nil ||
		r.SSHKeyPath != nil || r.HostKeyFingerprint != nil || r.ResetHostKey
}

// ApplyTo copies the set fields onto n; ResetHostKey clears the pinned key.
// It does not validate; call Validate first.
func (r UpdateNodeRequest) ApplyTo(n *Node) {
	setIf(&n.SSHHost, r.SSHHost)
	setIf(&n.SSHPort, r.SSHPort)
	setIf(&n.SSHUser, r.SSHUser)
	setIf(&n.SSHKeyPath, r.SSHKeyPath)
	setIf(&n.GitRepoURL, r.GitRepoURL)
	setIf(&n.GitBranch, r.GitBranch)
	setIf(&n.InstallPath, r.InstallPath)
	setIf(&n.AgentPort, r.AgentPort)
	setIf(&n.Transport, r.Transport)
	if r.ResetHostKey {
		n.HostKey, n.HostKeyFingerprint = "", ""
	}
}

// isEmpty reports whether the request would change nothing.
func (r UpdateNodeRequest) isEmpty() bool {
	return !r.ChangesConnection() && r.GitRepoURL == nil && r.GitBranch == nil &&
		r.InstallPath == nil && r.AgentPort == nil && r.Transport == nil
}

// validateSet runs check on *v when v is set.
func validateSet(field string, v *string, check func(field, v string) error) error {
	if v == nil {
		return nil
	}
	return check(field, *v)
}

// validateSetPort checks a port when it is set; 0 is not a default here.
func validateSetPort(field string, p *int) error {
	if p == nil {
		return nil
	}
	return validatePort(field, *p, false)
}

// setIf stores *v in dst when v is set.
func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
