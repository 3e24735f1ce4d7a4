package workerregistry

import (
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Update applies u to the worker u.ID of node and returns the new record:
// the state always, URL when not empty, and the other optional fields when
// not nil. LastHeartbeatUnix is set to now. An unknown id returns an error
// wrapping ErrNotFound, a worker of another node one wrapping ErrForbidden.
func (r *Registry) Update(node string, u api.UpdateWorkerRequest, now time.Time) (api.Worker, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, err := r.owned(node, u.ID)
	if err != nil {
		return api.Worker{}, err
	}
	w := applyUpdate(e.w, u)
	w.LastHeartbeatUnix = now.Unix()
	share(&w, &e.w)
	if !sameWorker(e.w, w) {
		r.log.add(e.w.ID)
		r.notify()
	}
	r.idx.set(e, w)
	return cloneWorker(w), nil
}

// applyUpdate returns w changed by u. The result shares no new pointer
// with u.
func applyUpdate(w api.Worker, u api.UpdateWorkerRequest) api.Worker {
	w.State = u.State
	if u.URL != "" {
		w.URL = u.URL
	}
	if u.SlotsTotal != nil {
		w.SlotsTotal = *u.SlotsTotal
	}
	if u.SlotsAvailable != nil {
		w.SlotsAvailable = *u.SlotsAvailable
	}
	if u.VRAMBytes != nil {
		w.VRAMBytes = *u.VRAMBytes
	}
	if u.ExitCode != nil {
		c := *u.ExitCode
		w.ExitCode = &c
	}
	return w
}
