package workerregistry

import (
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Register stores w as a worker of node (w.Node is set to node) and reports
// whether its id was new. Registering an id node already owns replaces the
// record, so a retried register is harmless. An id owned by another node
// returns an error wrapping ErrConflict and changes nothing.
//
// LastHeartbeatUnix is set to now; a zero StartedUnix becomes the stored
// record's start time, or now for a new id.
func (r *Registry) Register(node string, w api.Worker, now time.Time) (created bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, created, changed, owned := r.storeOwned(node, w, now)
	if !owned {
		return false, conflictError(w.ID)
	}
	if changed {
		r.notify()
	}
	return created, nil
}

// storeOwned stores w as node's record, as store does, unless another
// node owns its id: then it changes nothing and owned is false. The caller
// holds r.mu for writing.
func (r *Registry) storeOwned(node string, w api.Worker, now time.Time) (e *entry, created, changed, owned bool) {
	e = r.byID[w.ID]
	if e != nil && e.w.Node != node {
		return e, false, false, false
	}
	e, created, changed = r.store(node, e, w, now)
	return e, created, changed, true
}

// store puts w as node's record in e (nil: a new id) and reports whether
// the id was new and whether anything but the heartbeat time changed. The
// caller holds r.mu for writing and has checked that node owns e.
func (r *Registry) store(node string, e *entry, w api.Worker, now time.Time) (stored *entry, created, changed bool) {
	w.Node = node
	w.LastHeartbeatUnix = now.Unix()
	if w.StartedUnix == 0 {
		w.StartedUnix = now.Unix()
		if e != nil {
			w.StartedUnix = e.w.StartedUnix
		}
	}
	switch {
	case e == nil:
		share(&w, nil)
		e = &entry{w: cloneWorker(w)}
		r.byID[w.ID] = e
		r.byNode[w.Node] = append(r.byNode[w.Node], e)
		r.idx.add(e)
		r.log.add(e.w.ID)
		return e, true, true
	case sameWorker(e.w, w):
		e.w.LastHeartbeatUnix = w.LastHeartbeatUnix
		return e, false, false
	default:
		share(&w, &e.w)
		r.idx.set(e, cloneWorker(w))
		r.log.add(e.w.ID)
		return e, false, true
	}
}
