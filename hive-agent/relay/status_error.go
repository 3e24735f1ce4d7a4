package relay

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// StatusError is a request the queen answered with a status other than
// 2xx and that was not retried or stopped being retried.
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Detail is the queen's error body, when it sent one.
	Detail api.ErrorDetail
	// RetryAfter is the wait the queen asked for with a Retry-After
	// header in seconds (0: none).
	RetryAfter time.Duration
	// ActiveQueen is the active queen a standby named with the
	// X-Rbee-Active-Queen header, without a trailing slash ("": none).
	ActiveQueen string
}

// Error names the status and the queen's message.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("queen answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Detail.Message != "" {
		msg += ": " + e.Detail.Message
	}
	return msg
}

// IsTokenRejected reports whether err is the queen refusing the hive token
// (401 or 403).
func IsTokenRejected(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden)
}

// IsNodeRemoved reports whether err is the queen saying that this node was
// removed from its registry (410 Gone, code api.CodeNodeRemoved): the hive
// token belongs to a node that no longer exists.
func IsNodeRemoved(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && se.StatusCode == http.StatusGone
}

// IsBusy reports whether err is the queen turning a request away for now
// (503 Service Unavailable): nothing was applied, send again later.
func IsBusy(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && se.StatusCode == http.StatusServiceUnavailable
}

// IsStandby reports whether err is a standby queen of an HA pair turning
// a request away (503, code STANDBY): nothing was applied.
func IsStandby(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && se.StatusCode == http.StatusServiceUnavailable && se.Detail.Code == api.CodeStandby
}

// UnreachableError is a request that reached no queen: the connection
// failed or timed out (after the client's retries).
type UnreachableError struct {
	// Queen is the base URL of the queen tried.
	Queen string
	// Err is the client's error.
	Err error
}

// Error is the client's error, which names the URL.
func (e *UnreachableError) Error() string { return e.Err.Error() }

// Unwrap returns the client's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// retryAfter returns the Retry-After header of resp in whole seconds, 0
// when absent or not a number of seconds.
func retryAfter(resp *http.Response) time.Duration {
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 3600)) * time.Second
}
