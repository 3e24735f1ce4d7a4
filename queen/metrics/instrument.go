package metrics

import (
	"net/http"
	"time"

	"github.com/rbee-fleet/rbee/shared/httpserver"
)

// unmatched is the route label of requests no pattern of the mux matched,
// so that scanners' paths do not make new series.
const unmatched = "unmatched"

// Instrument wraps mux, an *http.ServeMux (or a handler that sets
// r.Pattern the way one does), and counts every request by the pattern
// that served it and its status code. The pattern is read after mux
// served the request, so next must be the mux itself, not a handler that
// passes it a copy of the request.
func (m *Metrics) Instrument(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := httpserver.NewRecorder(w)
		mux.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = unmatched
		}
		m.observe(route, code(rec), time.Since(start))
	})
}

// code is the status the handler answered with (200 when it wrote
// nothing, as net/http then sends).
func code(rec *httpserver.Recorder) int {
	if rec.Status() == 0 {
		return http.StatusOK
	}
	return rec.Status()
}
