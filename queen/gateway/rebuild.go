package gateway

import (
	"iter"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// rebuild makes the table match the registry's workers: new workers join
// (their idle time starts now), gone ones leave (at once when nothing is
// in flight on them, else when the last request ends), and every record's
// state, URL and slots are taken over; requests in flight and idle times
// stay. Waiting requests get the workers that became free. workers is
// walked once, record by record (the registry's All): no copy of the whole
// fleet is made.
func (t *table) rebuild(workers iter.Seq[api.Worker], now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, u := range t.byID {
		u.listed = false
	}
	models := make(map[string][]*upstream, len(t.pools))
	for model, p := range t.pools {
		models[model] = make([]*upstream, 0, len(p.ups)) // no regrowth at a steady size
	}
	for w := range workers {
		u := t.apply(&w, now)
		models[u.model] = append(models[u.model], u)
	}
	for _, u := range t.byID {
		if !u.listed && u.inflight == 0 {
			t.forget(u)
		}
	}
	t.regroup(models, now)
}

// apply takes over one registry record. The caller holds t.mu.
func (t *table) apply(w *api.Worker, now time.Time) *upstream {
	u := t.byID[w.ID]
	if u == nil || u.model != w.ModelRef {
		if u != nil {
			t.forget(u) // another model: a new upstream from now on
		}
		u = &upstream{id: w.ID, model: w.ModelRef, lastUsed: now}
		t.byID[w.ID] = u
	}
	u.node, u.url, u.slots, u.listed = w.Node, w.URL, max(w.SlotsTotal, 1), true
	u.routable = (w.State == api.WorkerIdle || w.State == api.WorkerBusy) && w.URL != ""
	u.loading = w.State == api.WorkerLoading
	if u.down && int32(w.PID) != t.downs[u].pid {
		u.down = false // a new process: judge it afresh
		delete(t.downs, u)
	}
	u.pid = int32(w.PID)
	return u
}

// regroup sets every pool's workers and serves the queues; a pool with no
// worker, no waiter and no spawn is dropped. The caller holds t.mu.
func (t *table) regroup(models map[string][]*upstream, now time.Time) {
	for model, p := range t.pools {
		if len(models[model]) == 0 {
			p.setUps(nil)
			if len(p.queue) == 0 && !p.spawning {
				delete(t.pools, model)
			}
		}
	}
	for model, ups := range models {
		if len(ups) == 0 {
			continue
		}
		p := t.pools[model]
		if p == nil {
			p = &pool{}
			t.pools[model] = p
		}
		p.setUps(ups)
		t.serveQueue(p, now)
	}
}

// expireDown puts workers down for longer than downFor back into routing.
func (t *table) expireDown(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for u, mark := range t.downs {
		if !u.down {
			delete(t.downs, u)
		} else if now.Sub(mark.at) > downFor {
			u.down = false
			delete(t.downs, u)
			u.changed()
		}
	}
	for _, p := range t.pools {
		t.serveQueue(p, now)
	}
}

// addr returns the node and URL of u, which rebuild may change meanwhile.
func (t *table) addr(u *upstream) (node, url string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return u.node, u.url
}

// nodeOf returns the node of u.
func (t *table) nodeOf(u *upstream) string {
	node, _ := t.addr(u)
	return node
}
