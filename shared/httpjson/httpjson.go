// Package httpjson is the JSON side of the HTTP servers of queen and hive
// agent (README: HTTP API): bodies of at most 1 MiB decoded strictly, answers
// written as JSON, errors as api.ErrorBody, and decode errors described
// without echoing the payload.
package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/httpserver"
)

// MaxBody is the request body limit of every route.
const MaxBody = 1 << 20

// Write answers status with v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers status with the error body of d.
func WriteError(w http.ResponseWriter, status int, d api.ErrorDetail) {
	if d.RequestID == "" {
		d.RequestID = w.Header().Get(httpserver.RequestIDHeader)
	}
	Write(w, status, api.ErrorBody{Error: d})
}

// Decode reads a JSON body of at most MaxBody bytes into v, refusing
// unknown fields and trailing values; on failure it has written the 4xx
// answer (413 or 400) and returns false.
func Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		return true
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		WriteError(w, http.StatusRequestEntityTooLarge, api.ErrorDetail{Code: api.CodeBodyTooLarge,
			Message: "request body exceeds 1 MiB"})
		return false
	}
	WriteError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidJSON,
		Message: "request body is not the JSON this route expects: " + Problem(err),
		Hint:    "send a JSON object with the fields the route takes (see the HTTP API section of the README)"})
	return false
}

// Problem describes a decode error without echoing the payload.
func Problem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for this; its message is `json: unknown field "x"`.
		name, err := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if err != nil {
			return "unknown field"
		}
		return "unknown field " + shownName(name)
	default:
		return "malformed JSON"
	}
}

// maxShownName bounds how much of an unknown field's name a message
// echoes, as api.FieldError bounds a rejected value.
const maxShownName = 64

// shownName quotes a field name from the payload, cut to maxShownName
// bytes on a rune boundary.
func shownName(name string) string {
	if len(name) <= maxShownName {
		return strconv.Quote(name)
	}
	cut := maxShownName
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return strconv.Quote(name[:cut]) + "…"
}
