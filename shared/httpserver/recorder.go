package httpserver

import (
	"net/http"
	"time"
)

// Recorder is an http.ResponseWriter that remembers the status code written
// through it and when the first byte of the body was. It passes Flush on
// (event streams) and unwraps for http.ResponseController (flushes,
// deadlines). The refusal log, the queen's request metrics and the
// gateway's observer all read answers through it.
type Recorder struct {
	http.ResponseWriter
	status    int
	firstByte time.Time
}

// NewRecorder returns a Recorder writing to w.
func NewRecorder(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

// WriteHeader records the first final status.
func (r *Recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and the time of the first body byte.
func (r *Recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.firstByte.IsZero() && len(p) > 0 {
		r.firstByte = time.Now()
	}
	return r.ResponseWriter.Write(p)
}

// Flush flushes the underlying writer when it can.
func (r *Recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying writer.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Status is the status written so far; 0 when nothing was (net/http then
// sends 200).
func (r *Recorder) Status() int { return r.status }

// FirstByte is when the first body byte was written; zero when none was.
func (r *Recorder) FirstByte() time.Time { return r.firstByte }
