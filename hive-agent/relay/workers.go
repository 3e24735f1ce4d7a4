package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Register tells the queen about worker w of this node (POST
// /v1/workers/register). Registering again is harmless.
func (h *Relay) Register(ctx context.Context, w api.Worker) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.Node = h.node
	h.deltas.Dirty(w.ID)
	if err := h.do(ctx, http.MethodPost, "/v1/workers/register", w, nil); err != nil {
		return fmt.Errorf("register worker %s at the queen: %w", w.ID, err)
	}
	return nil
}

// Update relays a state change (POST /v1/workers/update). When the queen
// does not know the worker (it restarted since), full is registered instead.
func (h *Relay) Update(ctx context.Context, u api.UpdateWorkerRequest, full api.Worker) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deltas.Dirty(u.ID)
	err := h.do(ctx, http.MethodPost, "/v1/workers/update", u, nil)
	if se, ok := errors.AsType[*StatusError](err); ok && se.StatusCode == http.StatusNotFound {
		full.Node = h.node
		err = h.do(ctx, http.MethodPost, "/v1/workers/register", full, nil)
	}
	if err != nil {
		return fmt.Errorf("update worker %s at the queen: %w", u.ID, err)
	}
	return nil
}

// Remove tells the queen that worker id is gone (DELETE /v1/workers/{id}).
// A worker the queen does not know is already removed.
func (h *Relay) Remove(ctx context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deltas.Dirty(id)
	err := h.do(ctx, http.MethodDelete, "/v1/workers/"+url.PathEscape(id), nil, nil)
	if se, ok := errors.AsType[*StatusError](err); ok && se.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove worker %s at the queen: %w", id, err)
	}
	return nil
}
