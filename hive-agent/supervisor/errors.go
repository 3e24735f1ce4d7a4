package supervisor

import (
	"net/http"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Error is a spawn or stop that failed for a reason the caller can act on;
// the agent answers it with Status and Detail.
type Error struct {
	Status int
	Detail api.ErrorDetail
}

// Error returns the message.
func (e *Error) Error() string { return e.Detail.Message }

func errorf(status int, code, hint, msg string) *Error {
	return &Error{Status: status, Detail: api.ErrorDetail{Code: code, Message: msg, Hint: hint}}
}

func notFound(id string) *Error {
	return errorf(http.StatusNotFound, api.CodeNotFound, "list the workers with `queen workers list`",
		"no worker "+id+" on this node")
}
