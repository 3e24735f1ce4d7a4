package workerregistry

import "github.com/rbee-fleet/rbee/shared/api"

// maxLog bounds the change log: a reader further behind than that many
// changes reads everything again (All).
const maxLog = 1 << 16

// changeLog is the ids of the records changed (anything Changed fires
// for: a new, changed or deleted record), in order. Change number base+i
// is ids[i]; the registry's version is base+len(ids).
type changeLog struct {
	ids  []string
	base uint64
}

// add logs a change of id. A full log starts again empty from the current
// version: readers behind it read everything.
func (l *changeLog) add(id string) {
	if len(l.ids) == maxLog {
		l.base += uint64(len(l.ids))
		clear(l.ids)
		l.ids = l.ids[:0]
	}
	l.ids = append(l.ids, id)
}

func (l *changeLog) version() uint64 { return l.base + uint64(len(l.ids)) }

// Change is a record as it is now after a change: Gone when the id was
// deleted, else Worker is a copy of the record.
type Change struct {
	ID     string
	Worker api.Worker
	Gone   bool
}

// Version returns the number of changes so far; pass it to ChangesSince
// to learn what changed after it. Take it before reading the records it
// is meant to cover (All), so a change in between is not missed.
func (r *Registry) Version() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.log.version()
}

// ChangesSince returns every record changed after version v, once each
// (as it is now), and the version they bring the reader to. ok is false
// when the log no longer reaches back to v (more than 65,536 changes
// since): read everything again with All.
func (r *Registry) ChangesSince(v uint64) (changes []Change, now uint64, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	now = r.log.version()
	if v < r.log.base || v > now {
		return nil, now, false
	}
	ids := r.log.ids[v-r.log.base:]
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		e, ok := r.byID[id]
		if !ok {
			changes = append(changes, Change{ID: id, Gone: true})
			continue
		}
		changes = append(changes, Change{ID: id, Worker: cloneWorker(e.w)})
	}
	return changes, now, true
}
