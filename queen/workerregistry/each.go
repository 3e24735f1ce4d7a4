package workerregistry

import (
	"iter"

	"github.com/rbee-fleet/rbee/shared/api"
)

// allChunk is how many workers All yields per hold of the read lock:
// writers (heartbeats) wait for at most one chunk of the caller's loop,
// not for a walk of the whole fleet.
const allChunk = 1024

// All returns every worker in list order (node, then id) without copying
// the registry first, for readers of the whole fleet that keep only some
// fields (the gateway's routing table). The sequence holds the registry's
// read lock for allChunk workers at a time, so the loop body must be quick
// and must not call the registry. Each worker is a copy, as List returns.
// Between chunks the walk goes on from a position, as Page does: a worker
// added or removed meanwhile may or may not show, one that stays shows
// once.
func (r *Registry) All() iter.Seq[api.Worker] {
	return func(yield func(api.Worker) bool) {
		after, more := Position{}, true
		for more {
			after, more = r.chunk(after, yield)
		}
	}
}

// chunk yields up to allChunk workers after after under the read lock and
// returns the position of the last one and whether to go on.
func (r *Registry) chunk(after Position, yield func(api.Worker) bool) (Position, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n, more := 0, false
	r.walk(r.idx.all, &matcher{}, after, func(e *entry) bool {
		if n == allChunk {
			more = true
			return false
		}
		n++
		after = Position{Node: e.w.Node, ID: e.w.ID}
		return yield(cloneWorker(e.w))
	})
	return after, more
}
