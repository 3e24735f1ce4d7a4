package metrics

import (
	"net/http"
	"time"
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
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = unmatched
		}
		m.observe(route, rec.code(), time.Since(start))
	})
}

// statusRecorder remembers the status code written through it. Unwrap lets
// http.ResponseController reach the connection (flushes of streamed
// answers, deadlines).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Flush passes a flush on, for handlers that assert http.Flusher.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the wrapped writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// code is the status the handler answered with (200 when it wrote
// nothing, as net/http then sends).
func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}
