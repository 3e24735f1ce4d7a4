package api

import (
	"slices"
	"strings"
)

// Node statuses, as stored in the hive registry and shown by list-nodes.
// A node's status follows what SSH and its agent's heartbeats show; what
// the last install did is recorded apart, in [Node.LastInstall].
const (
	// StatusReachable: SSH to the node works; nothing is installed yet.
	StatusReachable = "reachable"
	// StatusUnreachable: the last SSH attempt failed.
	StatusUnreachable = "unreachable"
	// StatusInstalling was set while an install ran.
	//
	// Deprecated: retired by issue 9; not in [Statuses], so ValidateStatus
	// refuses it and no code can set it. The registry's CHECK still admits
	// it (SQLite cannot change a CHECK in place) and its migration turned
	// old rows into offline or reachable. Kept so old rows can be named.
	StatusInstalling = "installing"
	// StatusInstalled: the agent is installed but has not heartbeated yet.
	StatusInstalled = "installed"
	// StatusInstallFailed was set when an install failed, hiding that the
	// old agent still ran.
	//
	// Deprecated: retired by issue 9 like [StatusInstalling]; a failed
	// install is now [Node.LastInstall] with Result [ResultFailed].
	StatusInstallFailed = "install_failed"
	// StatusOnline: the agent heartbeats.
	StatusOnline = "online"
	// StatusOffline: the agent has been silent past the stale limit.
	StatusOffline = "offline"
	// StatusStopped: the agent was stopped on purpose.
	StatusStopped = "stopped"
)

// Statuses returns every node status a node can have, in lifecycle order.
// The retired ones ([RetiredStatuses]) are not among them.
func Statuses() []string {
	return []string{
		StatusReachable, StatusUnreachable, StatusInstalled,
		StatusOnline, StatusOffline, StatusStopped,
	}
}

// RetiredStatuses returns the statuses no code sets any more but the
// registry's CHECK constraint still admits: [StatusInstalling] and
// [StatusInstallFailed].
func RetiredStatuses() []string {
	return []string{StatusInstalling, StatusInstallFailed}
}

// Health verdicts of a node's agent, in [HiveStatus.Health]: the queen asks
// the agent's GET /v1/health and judges the answer.
const (
	// HealthHealthy: the agent answered status "alive", API v1, and the
	// version of the agent install put there: the installed commit, or the
	// version that agent reported at install (an uploaded agent has the
	// queen's build version). Commits match when one is a prefix of the
	// other.
	HealthHealthy = "healthy"
	// HealthIncompatible: the agent answered, but not a Health body of API
	// v1 with status "alive".
	HealthIncompatible = "incompatible"
	// HealthDrift: the agent runs another version than install recorded.
	HealthDrift = "drift"
	// HealthUnreachable: no agent is installed, or it did not answer 200.
	HealthUnreachable = "unreachable"
)

// ValidateStatus checks that status is one of [Statuses].
func ValidateStatus(status string) error {
	return validateStatus("status", status)
}

// validateStatus checks status and reports errors under field.
func validateStatus(field, status string) error {
	if !slices.Contains(Statuses(), status) {
		return fieldErr(field, status, "must be one of "+strings.Join(Statuses(), ", "))
	}
	return nil
}
