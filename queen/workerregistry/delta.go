package workerregistry

import (
	"hash/maphash"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// ApplyDelta applies a delta heartbeat of node: it stores every changed
// record as Register does, deletes node's workers named in removed (ids
// the registry does not hold are gone already), and refreshes the
// heartbeat time of node's other workers, as Reconcile would have with the
// whole list. It returns how many ids were new, how many were deleted, and
// the ids owned by another node, which are skipped.
//
// A delta that changes nothing allocates nothing and does not fire
// Changed.
func (r *Registry) ApplyDelta(node string, changed []api.Worker, removed []string, now time.Time) (added, deleted int, conflicts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	diff := false
	for _, w := range changed {
		_, created, d, owned := r.storeOwned(node, w, now)
		if !owned {
			conflicts = append(conflicts, w.ID)
			continue
		}
		if created {
			added++
		}
		diff = diff || d
	}
	for _, id := range removed {
		e := r.byID[id]
		switch {
		case e == nil:
		case e.w.Node != node:
			conflicts = append(conflicts, id)
		default:
			r.drop(e)
			deleted++
		}
	}
	r.touch(node, now)
	if diff || deleted > 0 {
		r.notify()
	}
	return added, deleted, conflicts
}

// Touch sets the heartbeat time of every worker of node to now: a beat
// that repeats the last one byte for byte. It does not fire Changed.
func (r *Registry) Touch(node string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.touch(node, now)
}

// touch is Touch; the caller holds r.mu for writing.
func (r *Registry) touch(node string, now time.Time) {
	t := now.Unix()
	for _, e := range r.byNode[node] {
		e.w.LastHeartbeatUnix = t
	}
}

// sumSeed seeds Sum's hashes; they are compared within one process only.
var sumSeed = maphash.MakeSeed()

// Sum returns a checksum of node's records but their heartbeat times,
// independent of their order; 0 for a node without workers. The queen
// compares it to tell that the records of a node are still what a beat
// made them.
func (r *Registry) Sum(node string) uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var sum uint64
	var h maphash.Hash
	h.SetSeed(sumSeed)
	for _, e := range r.byNode[node] {
		h.Reset()
		writeWorker(&h, e.w)
		sum += h.Sum64()
	}
	return sum
}

// writeWorker writes every field of w but its heartbeat time to h.
func writeWorker(h *maphash.Hash, w api.Worker) {
	for _, s := range [...]string{w.ID, w.Node, w.URL, w.ModelRef, w.Backend, w.State} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	exit := int64(-1 << 40) // no exit code
	if w.ExitCode != nil {
		exit = int64(*w.ExitCode)
	}
	killed := int64(0)
	if w.Killed {
		killed = 1
	}
	for _, n := range [...]int64{int64(w.Device), int64(w.SlotsTotal), int64(w.SlotsAvailable), w.VRAMBytes,
		int64(w.PID), w.StartedUnix, exit, int64(w.Restarts), killed, w.StopMS} {
		maphash.WriteComparable(h, n)
	}
}
