package client

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/rbee-fleet/rbee/shared/api"
)

// APIError is an error the queen reported: the JSON error body of a 4xx or
// 5xx answer, or the error carried by the last event of a stream.
type APIError struct {
	// Status is the HTTP status of the answer that carried the error; 200
	// when the error ended a streamed (200) answer.
	Status int
	// Detail is the queen's code, message and hint.
	Detail api.ErrorDetail
}

// Error returns the queen's message, or the HTTP status when it sent none.
func (e *APIError) Error() string {
	if e.Detail.Message != "" {
		return e.Detail.Message
	}
	if e.Detail.Code != "" {
		return fmt.Sprintf("queen answered %s (HTTP %d)", e.Detail.Code, e.Status)
	}
	return fmt.Sprintf("queen answered HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// Hint returns the queen's next step for the user, or "".
func (e *APIError) Hint() string { return e.Detail.Hint }

// UnreachableError is a queen that could not be dialled: it is not running,
// or the URL points at the wrong place.
type UnreachableError struct {
	// URL is the queen's base URL.
	URL string
	// Err is the dial error.
	Err error
}

// Error names the URL, the cause and the next step.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach queen at %s: %v; start it with `queen serve` or pass --queen-url",
		e.URL, dialCause(e.Err))
}

// Unwrap returns the dial error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// ResponseError is an answer that is not what the API documents: a body that
// does not decode, an oversized body or line, a stream cut before its last
// event.
type ResponseError struct {
	// Op is the request, e.g. "GET /v1/hives".
	Op string
	// Err says what was wrong.
	Err error
}

// Error names the request and what was wrong with the answer.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("%s: unexpected answer from queen: %v", e.Op, e.Err)
}

// Unwrap returns what was wrong.
func (e *ResponseError) Unwrap() error { return e.Err }

// Hint returns the next step for the user.
func (e *ResponseError) Hint() string {
	if errors.Is(e.Err, ErrStreamCut) {
		return "the queen may have stopped or restarted; check its log, then run the command again"
	}
	return "check that --queen-url points at a queen daemon of the same version as this command"
}

// ErrStreamCut is wrapped by the [*ResponseError] of a stream that ended
// before its last event.
var ErrStreamCut = errors.New("stream ended before its last event")

// IsNotFound reports whether err is the queen saying that the node (or
// route) does not exist: HTTP 404 or code NOT_FOUND.
func IsNotFound(err error) bool {
	return hasCodeOrStatus(err, api.CodeNotFound, http.StatusNotFound)
}

// IsConflict reports whether err is the queen answering 409 Conflict, or
// code ALREADY_EXISTS (which also ends streams, with HTTP 200).
func IsConflict(err error) bool {
	return hasCodeOrStatus(err, api.CodeAlreadyExists, http.StatusConflict)
}

// IsUnauthorized reports whether err is the queen refusing the admin token:
// HTTP 401 or code UNAUTHORIZED.
func IsUnauthorized(err error) bool {
	return hasCodeOrStatus(err, api.CodeUnauthorized, http.StatusUnauthorized)
}

// IsUnreachable reports whether err is a queen that could not be dialled.
func IsUnreachable(err error) bool {
	_, ok := errors.AsType[*UnreachableError](err)
	return ok
}

// Code returns the queen's error code of err, or "" when err is not an
// [*APIError].
func Code(err error) string {
	if e, ok := errors.AsType[*APIError](err); ok {
		return e.Detail.Code
	}
	return ""
}

// hasCodeOrStatus reports whether err is an [*APIError] with code or with
// status.
func hasCodeOrStatus(err error, code string, status int) bool {
	e, ok := errors.AsType[*APIError](err)
	return ok && (e.Detail.Code == code || e.Status == status)
}

// dialCause returns the shortest useful cause of a dial error, e.g.
// "connection refused" instead of "dial tcp 127.0.0.1:7833: connect:
// connection refused".
func dialCause(err error) error {
	if sys, ok := errors.AsType[*os.SyscallError](err); ok {
		return sys.Err
	}
	if op, ok := errors.AsType[*net.OpError](err); ok {
		return op.Err
	}
	return err
}

// isDialError reports whether err happened while dialling, before anything
// was sent.
func isDialError(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}
