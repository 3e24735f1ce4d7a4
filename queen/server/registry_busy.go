package server

import (
	"net/http"

	"github.com/rbee-fleet/rbee/shared/api"
)

// registryBusyDetail is the error of a registry write that waited out the
// busy timeout: another writer (often a second process on the same file)
// held the lock. Nothing was written, so the request may be sent again.
func registryBusyDetail() api.ErrorDetail {
	return api.ErrorDetail{Code: api.CodeRegistryBusy,
		Message: "the hive registry is busy: another writer held its lock past the busy timeout, so nothing was changed",
		Hint: "try again in a moment; if it stays busy, check that no other process (a second `queen serve`, " +
			"an sqlite3 shell) holds the registry file open in a transaction"}
}

// writeRegistryBusy answers 503 with Retry-After: 1 and registryBusyDetail.
func writeRegistryBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, registryBusyDetail())
}
