package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rbee-fleet/rbee/shared/api"
)

// maxBody is the request body limit of every route.
const maxBody = 1 << 20

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, d api.ErrorDetail) {
	writeJSON(w, status, api.ErrorBody{Error: d})
}

// decode reads a JSON body of at most maxBody bytes into v, refusing unknown
// fields; on failure it has written the 4xx answer and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		return true
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, http.StatusRequestEntityTooLarge, api.ErrorDetail{Code: api.CodeBodyTooLarge,
			Message: "request body exceeds 1 MiB"})
		return false
	}
	writeError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidJSON,
		Message: "request body is not the JSON this route expects: " + jsonProblem(err),
		Hint:    "send a JSON object with the fields of DESIGN §3"})
	return false
}

// jsonProblem describes a decode error without echoing the payload.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for this; its message is `json: unknown field "x"`.
		return strings.TrimPrefix(err.Error(), "json: ")
	default:
		return "malformed JSON"
	}
}

// writeInvalid answers 400 for a validation error from shared/api.
func writeInvalid(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidField,
		Message: err.Error(), Hint: "fix the field named above and try again"})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
