package gateway

import (
	"net/http"
	"time"
)

// Observer is told what the gateway answered, for the queen's metrics.
type Observer interface {
	// GatewayRequest counts one inference request for a model the gateway
	// serves, by the status of its answer.
	GatewayRequest(model string, status int)
	// GatewayFirstByte is the time from a request's arrival to the first
	// byte of its answer.
	GatewayFirstByte(model string, took time.Duration)
}

// QueueLengths returns how many requests wait per model, every model the
// table knows included (0 when none waits).
func (g *Gateway) QueueLengths() map[string]int {
	t := g.table
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int, len(t.pools))
	for model, p := range t.pools {
		out[model] = len(p.queue)
	}
	return out
}

// observe tells the Observer, if any, about the answer w recorded for
// model; requests for models the gateway does not serve (400, 404) are
// left out, so clients cannot make up label values.
func (g *Gateway) observe(model string, w *observedWriter) {
	if g.cfg.Observer == nil || model == "" || w.status == http.StatusNotFound || w.status == http.StatusBadRequest {
		return
	}
	g.cfg.Observer.GatewayRequest(model, w.status)
	if w.first > 0 {
		g.cfg.Observer.GatewayFirstByte(model, w.first)
	}
}

// observedWriter records the status and the time to the first body byte
// of an answer. It passes Flush on and unwraps for ResponseController.
type observedWriter struct {
	http.ResponseWriter
	start  time.Time
	status int
	first  time.Duration
}

// WriteHeader records the status.
func (o *observedWriter) WriteHeader(code int) {
	if o.status == 0 {
		o.status = code
	}
	o.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and the first byte's time.
func (o *observedWriter) Write(p []byte) (int, error) {
	if o.status == 0 {
		o.status = http.StatusOK
	}
	if o.first == 0 && len(p) > 0 {
		o.first = time.Since(o.start)
	}
	return o.ResponseWriter.Write(p)
}

// Flush flushes the underlying writer when it can.
func (o *observedWriter) Flush() {
	if f, ok := o.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying writer.
func (o *observedWriter) Unwrap() http.ResponseWriter { return o.ResponseWriter }
