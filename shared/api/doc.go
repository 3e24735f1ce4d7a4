// Package api holds the wire types of the rbee HTTP APIs: the requests and
// responses the queen, the hive agent and the CLI exchange, the JSON error
// body, the NDJSON progress events of long operations, and the validation
// rules every request passes before anything acts on it.
//
// The package imports only the standard library (a test enforces it) so that
// every binary can depend on it without pulling in anything else. Both sides
// call Validate: the server before acting, the client before sending.
//
// Every validation error wraps [ErrInvalid] and is a [*FieldError] naming the
// field (by its JSON name), the offending value and the rule it broke, so a
// server answers it with 400 and code [CodeInvalidField].
package api
