package gateway

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// downFor is how long a worker that could not be reached stays out of
// routing when its agent reports nothing new about it.
const downFor = 10 * time.Second

// upstream is one worker in the routing table, one per worker of the
// fleet: its fields are laid out to fit 128 bytes (the down mark's time
// and pid live in the table's downs). Its fields are guarded by the
// table's lock.
type upstream struct {
	id, node, url, model string
	lastUsed             time.Time
	pool                 *pool // the pool whose index holds u at pos; nil when none
	slots                int
	inflight             int
	pid                  int32 // a Linux pid fits
	pos                  int32
	routable             bool // the registry lists it idle or busy
	loading              bool // the registry lists it loading
	listed               bool // the last rebuild saw it
	spawned              bool // spawned by the gateway (idle timeout applies)
	stopping             bool // the idle timeout is stopping it
	down                 bool // unreachable since its mark in the table's downs
}

// downMark is when a worker was found unreachable and its pid then.
type downMark struct {
	at  time.Time
	pid int32
}

// free reports whether a request may be routed to u now.
func (u *upstream) free() bool {
	return u.routable && u.listed && !u.down && !u.stopping && u.inflight < u.slots
}

// load is u's load for the routing index.
func (u *upstream) load() load {
	if !u.free() {
		return load{}
	}
	return load{inflight: clamp32(u.inflight), slots: clamp32(u.slots)}
}

// clamp32 returns n, or the largest int32 when n is larger.
func clamp32(n int) int32 {
	return int32(min(n, math.MaxInt32))
}

// changed tells u's pool index that a field free or load reads changed.
// The caller holds the table's lock.
func (u *upstream) changed() {
	if u.pool != nil {
		u.pool.index.set(int(u.pos), u.load())
	}
}

// pool is one model's workers and queue.
type pool struct {
	ups      []*upstream
	index    loadIndex // over ups
	next     int       // where the next search starts, for round-robin ties
	queue    []*waiter
	spawning bool
}

// setUps makes ups the pool's workers and indexes them; workers no longer
// in it leave its index. The caller holds the table's lock.
func (p *pool) setUps(ups []*upstream) {
	for _, u := range p.ups {
		if u.pool == p {
			u.pool = nil
		}
	}
	for i, u := range ups {
		u.pool, u.pos = p, int32(i)
	}
	p.ups = ups
	p.index.build(ups)
	if p.next >= len(ups) {
		p.next = 0
	}
}

// grant is what a waiter gets: a worker with a slot taken for it, or the
// error that ends its wait.
type grant struct {
	up  *upstream
	err *apiError
}

// waiter is a request queued for a model.
type waiter struct {
	ch chan grant // buffered: a grant never blocks
}

// table is the routing table: every worker by id and by model.
type table struct {
	mu    sync.Mutex
	byID  map[string]*upstream
	pools map[string]*pool
	// downs and spawned hold the upstreams marked down and those the
	// gateway spawned, so the once-a-second checks (expireDown, idle)
	// visit those, not every worker of the fleet.
	downs    map[*upstream]downMark
	spawned  map[*upstream]struct{}
	queueLen int
}

func newTable(queueLen int) *table {
	return &table{byID: map[string]*upstream{}, pools: map[string]*pool{},
		downs: map[*upstream]downMark{}, spawned: map[*upstream]struct{}{}, queueLen: queueLen}
}

// forget drops u from the table's maps once it left routing for good
// (unlisted: its pool's next regroup drops it). The caller holds t.mu.
func (t *table) forget(u *upstream) {
	if u.listed {
		u.listed = false
		u.changed()
	}
	if t.byID[u.id] == u {
		delete(t.byID, u.id)
	}
	delete(t.downs, u)
	delete(t.spawned, u)
}

// pick returns the free worker of p with the fewest requests in flight
// relative to its slots, the first from p.next on among equals so ties go
// round-robin, or nil. It costs O(log n) for n workers, whatever their
// load (the index). The caller holds t.mu.
func (p *pool) pick() *upstream {
	i := p.index.next(p.next)
	if i < 0 {
		return nil
	}
	p.next = i + 1
	if p.next >= len(p.ups) {
		p.next = 0
	}
	return p.ups[i]
}

// alive reports whether p has a worker that is ready or on its way
// (loading, or a spawn under way). The caller holds t.mu.
func (p *pool) alive() bool {
	if p.spawning {
		return true
	}
	for _, u := range p.ups {
		if u.listed && !u.down && !u.stopping && (u.routable || u.loading) {
			return true
		}
	}
	return false
}

// take returns a worker of model with a slot taken, or queues a waiter,
// or fails with 429 when the queue is full. create makes the model's pool
// when it has none (a spawnable model); needSpawn is set when the caller
// should start a spawn. A model without a pool and without create is
// unknown: up, w and err are all nil.
func (t *table) take(model string, create bool, now time.Time) (up *upstream, w *waiter, needSpawn bool, err *apiError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pools[model]
	if p == nil {
		if !create {
			return nil, nil, false, nil
		}
		p = &pool{}
		t.pools[model] = p
	}
	if up = p.pick(); up != nil {
		up.inflight++
		up.lastUsed = now
		up.changed()
		return up, nil, false, nil
	}
	if len(p.queue) >= t.queueLen {
		return nil, nil, false, &apiError{status: 429, typ: typeRateLimit, code: codeQueueFull, retryAfter: 1,
			msg: queueFullMessage(model, t.queueLen)}
	}
	w = &waiter{ch: make(chan grant, 1)}
	p.queue = append(p.queue, w)
	if create && !p.alive() {
		p.spawning, needSpawn = true, true
	}
	return nil, w, needSpawn, nil
}

// leave takes w out of model's queue after its wait ended. When w was
// granted a worker meanwhile, that grant is returned.
func (t *table) leave(model string, w *waiter) (grant, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.pools[model]; p != nil {
		for i, q := range p.queue {
			if q == w {
				p.queue = append(p.queue[:i], p.queue[i+1:]...)
				return grant{}, false
			}
		}
	}
	select {
	case g := <-w.ch:
		return g, true
	default:
		return grant{}, false
	}
}

// release gives up's slot back (to the head of its queue when one waits).
func (t *table) release(up *upstream, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	up.inflight--
	up.lastUsed = now
	up.changed()
	if !up.listed && up.inflight == 0 {
		t.forget(up)
	}
	if p := t.pools[up.model]; p != nil {
		t.serveQueue(p, now)
	}
}

// serveQueue grants free workers to the waiters of p, first come first
// served. The caller holds t.mu.
func (t *table) serveQueue(p *pool, now time.Time) {
	for len(p.queue) > 0 {
		up := p.pick()
		if up == nil {
			return
		}
		up.inflight++
		up.lastUsed = now
		up.changed()
		w := p.queue[0]
		p.queue = p.queue[1:]
		w.ch <- grant{up: up}
	}
}

// markDown takes up out of routing after it could not be reached.
func (t *table) markDown(up *upstream, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	up.down = true
	t.downs[up] = downMark{at: now, pid: up.pid}
	up.changed()
}

// failWaiters ends the wait of every request queued for model with err
// and marks its spawn over.
func (t *table) failWaiters(model string, err *apiError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pools[model]
	if p == nil {
		return
	}
	p.spawning = false
	for _, w := range p.queue {
		w.ch <- grant{err: err}
	}
	p.queue = nil
}

func queueFullMessage(model string, length int) string {
	if length == 0 {
		return fmt.Sprintf("every worker of %s is busy and the queue is off (--gateway-queue 0); retry later", model)
	}
	return fmt.Sprintf("every worker of %s is busy and %d requests already wait; retry later", model, length)
}
