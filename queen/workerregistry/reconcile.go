package workerregistry

import (
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Reconcile makes node's workers equal to snapshot, the agent's whole
// worker list from its heartbeat: it stores every snapshot record as
// Register does (so their heartbeat times become now) and deletes node's
// workers the snapshot lacks. It returns how many ids were new, how many
// were deleted, and the snapshot ids owned by another node, which are
// skipped.
//
// A snapshot equal to what is stored only refreshes heartbeat times: it
// allocates nothing and does not fire Changed.
func (r *Registry) Reconcile(node string, snapshot []api.Worker, now time.Time) (added, removed int, conflicts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pass++
	seen, changed := 0, false
	for _, w := range snapshot {
		e, created, diff, owned := r.storeOwned(node, w, now)
		if !owned {
			conflicts = append(conflicts, w.ID)
			continue
		}
		if created {
			added++
		}
		changed = changed || diff
		if e.mark != r.pass {
			e.mark = r.pass
			seen++
		}
	}
	// Every entry of node the snapshot named is marked; only when there
	// are more entries than that is there anything to delete.
	if set := r.byNode[node]; len(set) > seen {
		kept := set[:0]
		for _, e := range set {
			if e.mark == r.pass {
				kept = append(kept, e)
				continue
			}
			r.forget(e)
			removed++
		}
		clear(set[len(kept):])
		r.setNode(node, kept)
		changed = true
	}
	if changed {
		r.notify()
	}
	return added, removed, conflicts
}
