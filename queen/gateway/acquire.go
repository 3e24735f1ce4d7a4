package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// acquire returns a worker of model with a slot taken for the request,
// waiting in the model's queue (and starting a spawn) when it must.
func (g *Gateway) acquire(ctx context.Context, model string) (*upstream, *apiError) {
	spec, spawnable := g.models[model]
	spawnable = spawnable && g.cfg.Fleet != nil
	up, w, needSpawn, aerr := g.take(model, spawnable)
	switch {
	case aerr != nil:
		return nil, aerr
	case up != nil:
		return up, nil
	case w == nil:
		return nil, g.unknownModel(model)
	}
	if needSpawn {
		go g.spawn(spec)
	}
	return g.wait(ctx, model, w)
}

// take takes a slot of model's workers. The table follows the registry a
// moment behind (a rebuild per change, at most one per rebuildGap): when
// it does not know the model and the registry changed since its last
// rebuild (say just after a queen restart), it catches up first, so the
// answer is never a 404 for a model that is there. A model that is truly
// unknown costs no registry scan once the table is current.
func (g *Gateway) take(model string, spawnable bool) (*upstream, *waiter, bool, *apiError) {
	up, w, needSpawn, aerr := g.table.take(model, spawnable, time.Now())
	if up != nil || w != nil || aerr != nil || !g.stale() {
		return up, w, needSpawn, aerr
	}
	g.refresh()
	return g.table.take(model, spawnable, time.Now())
}

// wait waits for w's grant, at most Settings.QueueWait.
func (g *Gateway) wait(ctx context.Context, model string, w *waiter) (*upstream, *apiError) {
	timer := time.NewTimer(g.cfg.QueueWait)
	defer timer.Stop()
	select {
	case gr := <-w.ch:
		return gr.up, gr.err
	case <-ctx.Done():
	case <-timer.C:
	}
	if gr, ok := g.table.leave(model, w); ok {
		if gr.up != nil && ctx.Err() != nil {
			g.table.release(gr.up, time.Now())
			return nil, &apiError{status: 499, msg: "client left"}
		}
		return gr.up, gr.err
	}
	if ctx.Err() != nil {
		return nil, &apiError{status: 499, msg: "client left"} // nobody reads it
	}
	return nil, &apiError{status: http.StatusServiceUnavailable, typ: typeServer, code: codeQueueTimeout,
		retryAfter: max(1, int(g.cfg.QueueWait/time.Second)),
		msg:        fmt.Sprintf("no worker of %s was free within %s (--gateway-queue-wait); retry later", model, g.cfg.QueueWait)}
}

// unknownModel is the 404 for a model the gateway cannot serve.
func (g *Gateway) unknownModel(model string) *apiError {
	models := g.servable()
	list := "none: spawn a worker with `queen workers spawn` or list models in --gateway-models"
	if len(models) > 0 {
		list = strings.Join(models, ", ")
	}
	return &apiError{status: http.StatusNotFound, typ: typeInvalidRequest, code: codeModelNotFound,
		msg: fmt.Sprintf("model %q is not served here; models: %s", model, list)}
}
