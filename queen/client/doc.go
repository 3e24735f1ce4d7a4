// Package client is the Go client of the queen's HTTP API (README: HTTP API), used
// by the queen command-line client and by tests.
//
// Every method maps the queen's answers to Go values and typed errors: a JSON
// error body or the error of a stream's last event becomes an [*APIError], a
// queen that cannot be dialled becomes an [*UnreachableError], and an answer
// that is not what the API documents becomes a [*ResponseError]. Callers
// branch on those types and on [api.ErrorDetail.Code], never on messages.
//
// Long operations (add-node, update-node, preflight) are streamed: the queen
// answers application/x-ndjson, one [api.Event] per line, and the last event
// carries the result or the error.
package client
