package server

import (
	"errors"
	"net/http"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/httpjson"
)

// The JSON helpers every route uses.
const maxBody = httpjson.MaxBody

var (
	writeJSON  = httpjson.Write
	writeError = httpjson.WriteError
	decode     = httpjson.Decode
)

// writeInvalid answers 400 for a validation error from shared/api.
func writeInvalid(w http.ResponseWriter, err error) {
	if errors.Is(err, api.ErrUnsafePath) {
		writeError(w, http.StatusBadRequest, unsafePathDetail(err))
		return
	}
	writeError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidField,
		Message: err.Error(), Hint: "fix the field named above and try again"})
}

// unsafePathDetail is the answer to an install path rbee must not own.
func unsafePathDetail(err error) api.ErrorDetail {
	return api.ErrorDetail{Code: api.CodeUnsafePath, Message: err.Error(), Hint: api.InstallPathHint}
}
