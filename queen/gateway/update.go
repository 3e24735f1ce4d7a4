package gateway

import (
	"time"

	"github.com/rbee-fleet/rbee/queen/workerregistry"
)

// update applies the records changed since the last rebuild or update,
// as rebuild would have with the whole registry: a changed worker's fields
// and index slot are updated in place, and only the pools that gained or
// lost a worker are regrouped. Its cost follows the changes, not the
// fleet.
func (t *table) update(changes []workerregistry.Change, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	moved := map[string][]*upstream{} // models whose workers came or went: those that came
	for i := range changes {
		c := &changes[i]
		u := t.byID[c.ID]
		if c.Gone {
			if u != nil && u.listed {
				t.unlist(u)
				moved[u.model] = moved[u.model] // a member left
			}
			continue
		}
		if u != nil && u.listed && u.model == c.Worker.ModelRef {
			t.apply(&c.Worker, now).changed() // same pool: its index slot follows
			continue
		}
		if u != nil && u.listed {
			t.unlist(u)
			moved[u.model] = moved[u.model]
		}
		u = t.apply(&c.Worker, now)
		moved[u.model] = append(moved[u.model], u)
	}
	for model, added := range moved {
		t.repool(model, added)
	}
	for _, p := range t.pools {
		t.serveQueue(p, now)
	}
}

// unlist takes u out of routing: the registry no longer lists it (or
// lists it under another model). It stays until its requests in flight
// end. The caller holds t.mu.
func (t *table) unlist(u *upstream) {
	u.listed = false
	u.changed()
	if u.inflight == 0 {
		t.forget(u)
	}
}

// repool sets model's pool to the workers it had that are still listed,
// then those of added it lacks (a worker is in the pool whose index holds
// it: u.pool). The caller holds t.mu.
func (t *table) repool(model string, added []*upstream) {
	p := t.pools[model]
	var ups []*upstream
	if p != nil {
		ups = make([]*upstream, 0, len(p.ups)+len(added))
		for _, u := range p.ups {
			if u.listed {
				ups = append(ups, u)
			}
		}
	}
	for _, u := range added {
		if p == nil || u.pool != p {
			ups = append(ups, u)
		}
	}
	switch {
	case p != nil:
		p.setUps(ups)
		if len(ups) == 0 && len(p.queue) == 0 && !p.spawning {
			delete(t.pools, model)
		}
	case len(ups) > 0:
		p = &pool{}
		t.pools[model] = p
		p.setUps(ups)
	}
}
