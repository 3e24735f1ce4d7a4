package api

import (
	"slices"
	"strings"
)

// Node statuses, as stored in the hive registry and shown by list-nodes.
const (
	// StatusReachable: SSH to the node works; nothing is installed yet.
	StatusReachable = "reachable"
	// StatusUnreachable: the last SSH attempt failed.
	StatusUnreachable = "unreachable"
	// StatusInstalling: an install is running.
	StatusInstalling = "installing"
	// StatusInstalled: the agent is installed but has not heartbeated yet.
	StatusInstalled = "installed"
	// StatusInstallFailed: the last install failed; its events say why.
	StatusInstallFailed = "install_failed"
	// StatusOnline: the agent heartbeats.
	StatusOnline = "online"
	// StatusOffline: the agent has been silent past the stale limit.
	StatusOffline = "offline"
	// StatusStopped: the agent was stopped on purpose.
	StatusStopped = "stopped"
)

// Statuses returns every node status, in lifecycle order.
func Statuses() []string {
	return []string{
		StatusReachable, StatusUnreachable, StatusInstalling, StatusInstalled,
		StatusInstallFailed, StatusOnline, StatusOffline, StatusStopped,
	}
}

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
