package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Kinds of worker events.
const (
	eventRegister = "register"
	eventUpdate   = "update"
	eventRemove   = "remove"
)

// event is one change of a hive's workers, as the agent relays it.
type event struct {
	kind string
	id   string
	w    api.Worker // the whole record, for register (and update's fallback)
	u    api.UpdateWorkerRequest
}

// change changes one of h's workers at random and returns the event that
// tells the queen: its free slots (always when slotsOnly), its state, a
// new worker or a removed one.
func (h *simHive) change(slotsOnly bool) event {
	r := h.rng.IntN(100)
	switch {
	case len(h.workers) == 0 || !slotsOnly && r >= 85:
		return h.add()
	case slotsOnly || r < 50:
		return h.slots()
	case r < 70:
		return h.flipState()
	default:
		return h.remove()
	}
}

func (h *simHive) slots() event {
	w := &h.workers[h.rng.IntN(len(h.workers))]
	n := h.rng.IntN(w.SlotsTotal + 1)
	if n == w.SlotsAvailable {
		n = (n + 1) % (w.SlotsTotal + 1)
	}
	w.SlotsAvailable = n
	return event{kind: eventUpdate, id: w.ID, w: *w, u: api.UpdateWorkerRequest{ID: w.ID, State: w.State, SlotsAvailable: &n}}
}

func (h *simHive) flipState() event {
	w := &h.workers[h.rng.IntN(len(h.workers))]
	if w.State == api.WorkerBusy {
		w.State = api.WorkerIdle
	} else {
		w.State = api.WorkerBusy
	}
	return event{kind: eventUpdate, id: w.ID, w: *w, u: api.UpdateWorkerRequest{ID: w.ID, State: w.State}}
}

func (h *simHive) add() event {
	w := worker(h.i, h.next, h.h.Name, hostOf(h.i))
	h.next++
	h.workers = append(h.workers, w)
	slices.SortFunc(h.workers, func(a, b api.Worker) int { return strings.Compare(a.ID, b.ID) })
	return event{kind: eventRegister, id: w.ID, w: w}
}

func (h *simHive) remove() event {
	j := h.rng.IntN(len(h.workers))
	id := h.workers[j].ID
	h.workers = slices.Delete(h.workers, j, j+1)
	return event{kind: eventRemove, id: id}
}

// hostOf is the worker host of the i-th hive.
func hostOf(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff) }

// event relays ev as the agent's relay does: an update the queen does not
// know registers the whole worker, a removal it does not know is done.
func (f *Fleet) event(ctx context.Context, h *simHive, ev event) error {
	switch ev.kind {
	case eventRegister:
		return f.post(ctx, h, http.MethodPost, "/v1/workers/register", ev.w, nil)
	case eventUpdate:
		err := f.post(ctx, h, http.MethodPost, "/v1/workers/update", ev.u, nil)
		if isStatus(err, http.StatusNotFound) {
			err = f.post(ctx, h, http.MethodPost, "/v1/workers/register", ev.w, nil)
		}
		return err
	default:
		err := f.post(ctx, h, http.MethodDelete, "/v1/workers/"+url.PathEscape(ev.id), nil, nil)
		if isStatus(err, http.StatusNotFound) {
			return nil
		}
		return err
	}
}

func isStatus(err error, status int) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == status
}
