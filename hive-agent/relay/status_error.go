package relay

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/rbee-fleet/rbee/shared/api"
)

// StatusError is a request the queen answered with a status other than
// 2xx and that was not retried or stopped being retried.
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Detail is the queen's error body, when it sent one.
	Detail api.ErrorDetail
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
