package workerregistry

import (
	"iter"

	"github.com/rbee-fleet/rbee/shared/api"
)

// All returns every worker in list order (node, then id) without copying
// the registry first: the sequence holds the registry's read lock while it
// runs, so the loop body must be quick and must not call the registry.
// Each worker is a copy, as List returns. A reader of the whole fleet that
// keeps only some fields (the gateway's routing table, counts by state)
// uses it instead of List, which allocates a copy of every record at once.
func (r *Registry) All() iter.Seq[api.Worker] {
	return func(yield func(api.Worker) bool) {
		r.mu.RLock()
		defer r.mu.RUnlock()
		r.idx.all.Ascend(func(e *entry) bool { return yield(cloneWorker(e.w)) })
	}
}
