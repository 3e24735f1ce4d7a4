package workerregistry

import (
	"slices"
	"strconv"
	"strings"

	"github.com/rbee-fleet/rbee/shared/api"
)

// List returns copies of the workers that f matches (as
// [api.WorkerFilter.Match] does), sorted by node, then id. The result is
// never nil. With f.Node set only that node's workers are scanned.
func (r *Registry) List(f api.WorkerFilter) []api.Worker {
	m := newMatcher(f)
	r.mu.RLock()
	defer r.mu.RUnlock()
	matched := r.collect(&m)
	// Sorting pointers moves 8 bytes per swap instead of a whole record.
	slices.SortFunc(matched, compareEntries)
	out := make([]api.Worker, len(matched))
	for i, e := range matched {
		out[i] = cloneWorker(e.w)
	}
	return out
}

// collect returns the matching entries, unsorted. The caller holds r.mu.
func (r *Registry) collect(m *matcher) []*entry {
	entries := r.byID
	if m.f.Node != "" {
		entries = r.byNode[m.f.Node]
	}
	var out []*entry
	if m.all() {
		out = make([]*entry, 0, len(entries))
	}
	for _, e := range entries {
		if m.match(&e.w) {
			out = append(out, e)
		}
	}
	return out
}

func compareEntries(a, b *entry) int {
	if c := strings.Compare(a.w.Node, b.w.Node); c != 0 {
		return c
	}
	return strings.Compare(a.w.ID, b.w.ID)
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

// all reports whether every worker in the scanned set matches.
func (m *matcher) all() bool {
	return m.f.Model == "" && m.f.Capability == "" && m.f.State == ""
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
