package gateway

import (
	"net/http"
	"time"

	"github.com/rbee-fleet/rbee/shared/httpserver"
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
// model, which arrived at start; requests for models the gateway does not
// serve (400, 404) are left out, so clients cannot make up label values.
func (g *Gateway) observe(model string, start time.Time, w *httpserver.Recorder) {
	st := w.Status()
	if g.cfg.Observer == nil || model == "" || st == http.StatusNotFound || st == http.StatusBadRequest {
		return
	}
	g.cfg.Observer.GatewayRequest(model, st)
	if first := w.FirstByte(); !first.IsZero() {
		g.cfg.Observer.GatewayFirstByte(model, first.Sub(start))
	}
}
