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
	e := r.byID[w.ID]
	if e != nil && e.w.Node != node {
		return false, conflictError(w.ID)
	}
	_, created, changed := r.store(node, e, w, now)
	if changed {
		r.notify()
	}
	return created, nil
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
