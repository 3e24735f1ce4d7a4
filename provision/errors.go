package provision

import (
	"context"
	"errors"
	"fmt"
)

// Classes of failure. Callers branch on them with [errors.Is]; the typed
// errors below carry the details.
var (
	// ErrNetwork matches every network failure worth retrying: a timeout, a
	// refused connection, a reset, an unreachable network or host, and a
	// connection closed by the server during the handshake. [ErrTimeout] and
	// [ErrRefused] match ErrNetwork too.
	ErrNetwork = errors.New("network error")

	// ErrTimeout matches a TCP connect or SSH handshake that did not finish
	// before the deadline. It also matches [ErrNetwork].
	ErrTimeout error = &networkClass{"timed out"}

	// ErrRefused matches a connection refused by the host: it is up, but
	// nothing listens on the port. It also matches [ErrNetwork].
	ErrRefused error = &networkClass{"connection refused"}

	// ErrUnknownHost matches a host name that does not resolve. Not retried.
	ErrUnknownHost = errors.New("unknown host")

	// ErrAuth matches a server that rejected every key offered. Not retried;
	// the error is an [*AuthError].
	ErrAuth = errors.New("SSH authentication failed")

	// ErrNoCredentials matches a dial that had nothing to authenticate with:
	// no usable key file and no ssh-agent. Not retried.
	ErrNoCredentials = errors.New("no SSH credentials")

	// ErrHostKeyMismatch matches a server whose host key differs from the
	// pinned key or the expected fingerprint. Not retried; the error is a
	// [*HostKeyMismatchError].
	ErrHostKeyMismatch = errors.New("host key mismatch")

	// ErrInvalidTarget matches a [Target] that cannot be dialled as given:
	// a bad port, an unparsable pinned key, a broken ssh config.
	ErrInvalidTarget = errors.New("invalid SSH target")

	// ErrConnectionLost matches a command or transfer cut short because the
	// connection went away (network partition, keepalive timeout, sshd
	// restart). The command may or may not have run to completion.
	ErrConnectionLost = errors.New("SSH connection lost")
)

// networkClass is a class of network failure that also matches [ErrNetwork].
type networkClass struct{ msg string }

func (c *networkClass) Error() string        { return c.msg }
func (c *networkClass) Is(target error) bool { return target == ErrNetwork }

// Retryable reports whether err is a network failure that a new connection
// attempt may get past. Authentication, host-key and configuration failures
// are not retryable, and neither is a cancelled dial. Retryable does not look
// at any context: a caller that retries stops when its own ctx is done.
func Retryable(err error) bool {
	return errors.Is(err, ErrNetwork) && !errors.Is(err, context.Canceled)
}

// DialError is a failure to reach an SSH server, at TCP connect or during
// the SSH handshake, that is not about credentials or host keys.
type DialError struct {
	Dest  Endpoint // the server being reached: the node or a jump host
	Jump  bool     // Dest is a jump host on the way to the node
	Stage string   // "connect" or "handshake"
	Class error    // ErrTimeout, ErrRefused, ErrNetwork, ErrUnknownHost; nil if unclassified
	Err   error    // the underlying error
}

// Error says what was being reached, the class of failure and the cause.
func (e *DialError) Error() string {
	what := "ssh " + e.Stage
	if e.Stage == "connect" {
		what += " to "
	} else {
		what += " with "
	}
	if e.Jump {
		what += "jump host "
	}
	what += e.Dest.String()
	if e.Class == nil {
		return fmt.Sprintf("%s: %v", what, e.Err)
	}
	return fmt.Sprintf("%s: %v (%v)", what, e.Class, e.Err)
}

// Unwrap returns the class and the underlying error.
func (e *DialError) Unwrap() []error {
	if e.Class == nil {
		return []error{e.Err}
	}
	return []error{e.Class, e.Err}
}

// AuthError is a server that rejected every credential offered.
type AuthError struct {
	Dest    Endpoint // the server that refused: the node or a jump host
	KeyPath string   // the key file offered; "" when only the agent was used
	Agent   bool     // keys from ssh-agent were offered
	Err     error    // the error from golang.org/x/crypto/ssh
}

// Error names the server and the rejection, in the words OpenSSH uses.
func (e *AuthError) Error() string {
	return fmt.Sprintf("SSH authentication failed for %s: Permission denied (publickey)", e.Dest)
}

// Unwrap returns [ErrAuth] and the underlying error.
func (e *AuthError) Unwrap() []error { return []error{ErrAuth, e.Err} }

// HostKeyMismatchError is a server that presented a host key other than the
// one pinned for it, or other than the fingerprint the caller expected.
type HostKeyMismatchError struct {
	Host   string // host:port as dialled
	Want   string // fingerprint of the pinned key, or the expected fingerprint
	Got    string // fingerprint of the key the server presented
	Pinned bool   // Want comes from a pinned key (false: from an expected fingerprint)
}

// Error names the server and both fingerprints.
func (e *HostKeyMismatchError) Error() string {
	if e.Pinned {
		return fmt.Sprintf("host key for %s changed: pinned %s, got %s", e.Host, e.Want, e.Got)
	}
	return fmt.Sprintf("host key for %s does not match the expected fingerprint: expected %s, got %s",
		e.Host, e.Want, e.Got)
}

// Is reports whether target is [ErrHostKeyMismatch].
func (e *HostKeyMismatchError) Is(target error) bool { return target == ErrHostKeyMismatch }

// IsHostKeyMismatch reports whether err is, or wraps, a [*HostKeyMismatchError],
// and returns it.
func IsHostKeyMismatch(err error) (*HostKeyMismatchError, bool) {
	return errors.AsType[*HostKeyMismatchError](err)
}
