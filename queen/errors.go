package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// hinter is an error that knows the user's next step: [*hintError],
// [*client.APIError], [*client.ResponseError].
type hinter interface {
	error
	Hint() string
}

// hintOf returns the next step for the user after err: the hint of the first
// error in err's tree that has one, or "".
func hintOf(err error) string {
	if h, ok := errors.AsType[hinter](err); ok {
		return h.Hint()
	}
	return ""
}

// hintError is a local error with a next step for the user. main prints the
// message after "queen:" and the hint after "hint:".
type hintError struct {
	msg  string // shown instead of err's text when not empty
	err  error
	hint string
}

// withHint returns err with hint attached.
func withHint(err error, hint string) error {
	return &hintError{err: err, hint: hint}
}

// Error returns the message.
func (e *hintError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return e.err.Error()
}

// Unwrap returns the cause.
func (e *hintError) Unwrap() error { return e.err }

// Hint returns the next step.
func (e *hintError) Hint() string { return e.hint }

// errNodeNotFound is wrapped by the error of a command naming an unknown
// node.
var errNodeNotFound = errors.New("node not found")

// nodeNotFound turns the queen's "not found" into `node "N" not found` with
// the command that lists the nodes; other errors pass unchanged.
func nodeNotFound(name string, err error) error {
	if !client.IsNotFound(err) {
		return err
	}
	return &hintError{
		msg:  fmt.Sprintf("node %q not found", name),
		err:  fmt.Errorf("%w: %w", errNodeNotFound, err),
		hint: "list the registered nodes with `queen setup list-nodes`",
	}
}

// flagOfField maps the JSON fields of add-node and update-node requests to
// the flags that set them.
var flagOfField = map[string]string{
	"name":                 "--name",
	"ssh_host":             "--ssh-host",
	"ssh_port":             "--ssh-port",
	"ssh_user":             "--ssh-user",
	"ssh_key_path":         "--ssh-key",
	"git_repo_url":         "--git-repo",
	"git_branch":           "--git-branch",
	"install_path":         "--install-path",
	"agent_port":           "--agent-port",
	"host_key_fingerprint": "--host-key-fingerprint",
	"connect_timeout_ms":   "--connect-timeout",
}

// invalidFlags turns a validation error of shared/api into an error of the
// command whose hint names the flags to fix.
func invalidFlags(command string, err error) error {
	var flags []string
	for _, fe := range fieldErrors(err) {
		if f, ok := flagOfField[fe.Field]; ok && !slices.Contains(flags, f) {
			flags = append(flags, f)
		}
	}
	hint := "change at least one flag, or pass --reset-host-key"
	if len(flags) > 0 {
		hint = "fix " + strings.Join(flags, ", ") + " and run the command again"
	}
	if errors.Is(err, api.ErrUnsafePath) {
		hint = api.InstallPathHint
	}
	return withHint(fmt.Errorf("check the %s flags: %w", command, err), hint)
}

// fieldErrors returns every [*api.FieldError] in err's tree, in order.
func fieldErrors(err error) []*api.FieldError {
	if fe, ok := err.(*api.FieldError); ok {
		return []*api.FieldError{fe}
	}
	var out []*api.FieldError
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
	case interface{ Unwrap() error }:
		out = fieldErrors(u.Unwrap())
	}
	return out
}
