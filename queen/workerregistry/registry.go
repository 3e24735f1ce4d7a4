package workerregistry

import (
	"slices"
	"sync"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Registry holds the fleet's workers, safe for concurrent use. The zero
// value is not usable; create it with New.
type Registry struct {
	mu sync.RWMutex
	// byID holds every record; byNode lists the same entries by owner, in
	// no order, so per-node work is O(workers of that node). A node with no
	// workers has no byNode entry. A slice, not a map: 8 bytes a worker
	// instead of about 64 (a node's maps of 16); deleting one searches
	// the node's few workers.
	byID   map[string]*entry
	byNode map[string][]*entry
	// idx orders the same entries for List and Page.
	idx index
	// changed is closed and cleared at the next change; nil while nobody
	// waits, so changes nobody waits for cost nothing.
	changed chan struct{}
	// log holds the ids changed lately, for ChangesSince.
	log changeLog
	// pass numbers Reconcile calls; an entry seen by the current call
	// carries its number in mark.
	pass uint64
}

// entry is one stored record; its model, capability and state change only
// through index.set, which keeps the trees right. w.ExitCode, when set, points to an int owned
// by the registry: it is never handed out and never written through, so
// w may be copied freely under the lock.
type entry struct {
	w    api.Worker
	mark uint64
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{byID: map[string]*entry{}, byNode: map[string][]*entry{}, idx: newIndex()}
}

// Get returns a copy of the worker with the given id.
func (r *Registry) Get(id string) (api.Worker, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byID[id]
	if !ok {
		return api.Worker{}, false
	}
	return cloneWorker(e.w), true
}

// Len returns the number of workers.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byID)
}

// Changed returns a channel that is closed at the next change of any
// record other than its heartbeat time. Take the channel before reading the
// state you wait on, so a change in between is not missed:
//
//	for {
//		ch := r.Changed()
//		if w, ok := r.Get(id); ok && w.State == api.WorkerIdle {
//			return w, nil
//		}
//		select {
//		case <-ctx.Done():
//			return api.Worker{}, ctx.Err()
//		case <-ch:
//		}
//	}
func (r *Registry) Changed() <-chan struct{} {
	r.mu.RLock()
	ch := r.changed
	r.mu.RUnlock()
	if ch != nil {
		return ch
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

// notify wakes the waiters of Changed. The caller holds r.mu for writing.
func (r *Registry) notify() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// owned returns node's entry for id. The caller holds r.mu.
func (r *Registry) owned(node, id string) (*entry, error) {
	e, ok := r.byID[id]
	switch {
	case !ok:
		return nil, notFoundError(id)
	case e.w.Node != node:
		return nil, forbiddenError(id)
	}
	return e, nil
}

// drop deletes e from every index. The caller holds r.mu for writing.
func (r *Registry) drop(e *entry) {
	r.forget(e)
	set := r.byNode[e.w.Node]
	if i := slices.Index(set, e); i >= 0 {
		last := len(set) - 1
		set[i], set[last] = set[last], nil
		r.setNode(e.w.Node, set[:last])
	}
}

// forget deletes e from byID and the ordered indexes, not from byNode.
// The caller holds r.mu for writing.
func (r *Registry) forget(e *entry) {
	r.log.add(e.w.ID)
	r.idx.remove(e)
	delete(r.byID, e.w.ID)
}

// setNode stores node's entries; none deletes its byNode entry. The caller
// holds r.mu for writing.
func (r *Registry) setNode(node string, set []*entry) {
	if len(set) == 0 {
		delete(r.byNode, node)
		return
	}
	r.byNode[node] = set
}
