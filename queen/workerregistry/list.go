package workerregistry

import (
	"strconv"
	"strings"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Position is a place in the list order (node, then id): the key of the
// last worker a page returned. The zero Position is before every worker.
type Position struct {
	Node, ID string
}

// List returns copies of the workers that f matches (as
// [api.WorkerFilter.Match] does), sorted by node, then id. The result is
// never nil. It walks the smallest index f selects (see Page), so a
// filtered list costs what it returns; nothing is sorted per call.
func (r *Registry) List(f api.WorkerFilter) []api.Worker {
	m := newMatcher(f)
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, size := r.smallest(&m)
	out := make([]api.Worker, 0, size) // at most size match
	out, _ = r.page(t, &m, Position{}, -1, out)
	return out
}

// Page appends to out copies of the first limit workers that f matches
// after the position after, in list order, and reports whether more
// follow. A negative limit means no limit; limit 0 returns no worker and
// reports whether any matches. Ids removed or added behind the walk do
// not shift it: a position is a key, not an offset.
//
// It walks one ordered index: the node's range of the whole order, or
// the tree of f's model, capability or state, whichever holds fewest
// entries, and checks the other fields on each entry; a page costs what it
// returns (plus the entries of that index the other fields reject).
func (r *Registry) Page(f api.WorkerFilter, after Position, limit int, out []api.Worker) ([]api.Worker, bool) {
	m := newMatcher(f)
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, _ := r.smallest(&m)
	return r.page(t, &m, after, limit, out)
}

// page is Page on the tree t (nil: nothing matches). The caller holds
// r.mu.
func (r *Registry) page(t *tree, m *matcher, after Position, limit int, out []api.Worker) ([]api.Worker, bool) {
	if t == nil {
		return out, false
	}
	n, more := 0, false
	r.walk(t, m, after, func(e *entry) bool {
		if n == limit {
			more = true
			return false
		}
		out = append(out, cloneWorker(e.w))
		n++
		return true
	})
	return out, more
}

// smallest returns the index to walk for m and how many entries of it
// may match (the node's workers when the node's range of all is walked);
// nil and 0 when nothing can match. The caller holds r.mu.
func (r *Registry) smallest(m *matcher) (*tree, int) {
	if m.never {
		return nil, 0
	}
	best, size := r.idx.all, r.idx.all.Len()
	if m.f.Node != "" {
		size = len(r.byNode[m.f.Node]) // walked as a range of all
	}
	for _, c := range [...]struct {
		on bool
		t  *tree
	}{
		{m.f.Model != "", r.idx.model[m.f.Model]},
		{m.f.Capability != "", r.idx.capab[capKey{backend: m.backend, device: m.device}]},
		{m.f.State != "", r.idx.state[m.f.State]},
	} {
		switch {
		case !c.on:
		case c.t == nil:
			return nil, 0
		case c.t.Len() < size:
			best, size = c.t, c.t.Len()
		}
	}
	if size == 0 {
		return nil, 0
	}
	return best, size
}

// walk calls yield with each entry of t after after that m matches, in
// list order, until yield returns false. Every tree is in list order, so
// with a node filter it walks only that node's range. The caller holds
// r.mu.
func (r *Registry) walk(t *tree, m *matcher, after Position, yield func(*entry) bool) {
	if node := m.f.Node; node != "" && after.Node < node {
		after = Position{Node: node}
	}
	pivot := &entry{w: api.Worker{Node: after.Node, ID: after.ID}}
	t.AscendGreaterOrEqual(pivot, func(e *entry) bool {
		switch {
		case e.w.ID == after.ID && e.w.Node == after.Node:
			return true // the position itself: strictly after
		case m.f.Node != "" && e.w.Node != m.f.Node:
			return false // past the node's range
		case !m.match(&e.w):
			return true
		}
		return yield(e)
	})
}

// matcher is an api.WorkerFilter with its capability parsed once, so
// matching a worker allocates nothing (api.Worker.Capability builds a
// string).
type matcher struct {
	f api.WorkerFilter
	// backend and device are f.Capability's parts; device is unused for
	// the cpu backend. never is set when no worker can have f.Capability.
	backend string
	device  int
	never   bool
}

// newMatcher parses f.Capability as the inverse of api.CapabilityOf:
// "cpu", or "<backend>:<device>" with a backend other than cpu and the
// device in strconv.Itoa form.
func newMatcher(f api.WorkerFilter) matcher {
	m := matcher{f: f}
	switch c := f.Capability; {
	case c == "":
	case c == api.BackendCPU:
		m.backend = api.BackendCPU
	default:
		i := strings.LastIndexByte(c, ':')
		if i < 0 {
			m.never = true
			break
		}
		n, err := strconv.Atoi(c[i+1:])
		m.backend, m.device = c[:i], n
		m.never = err != nil || strconv.Itoa(n) != c[i+1:] || m.backend == api.BackendCPU
	}
	return m
}

func (m *matcher) match(w *api.Worker) bool {
	return (m.f.Node == "" || m.f.Node == w.Node) &&
		(m.f.Model == "" || m.f.Model == w.ModelRef) &&
		(m.f.State == "" || m.f.State == w.State) &&
		m.matchCapability(w)
}

func (m *matcher) matchCapability(w *api.Worker) bool {
	switch {
	case m.f.Capability == "":
		return true
	case m.never || w.Backend != m.backend:
		return false
	}
	return m.backend == api.BackendCPU || w.Device == m.device
}
