package gateway

// load is a worker's requests in flight and slots, as the routing index
// compares them; slots 0 means the worker takes no request now (full,
// down, stopping or not routable). Both fit 32 bits: the index holds
// two loads per worker of the pool (a tree over a power of two of
// leaves), so 8 bytes a load instead of 16 halves it.
type load struct{ inflight, slots int32 }

// lighter reports whether a has fewer requests in flight relative to its
// slots than b; a worker that takes no request is never lighter.
func (a load) lighter(b load) bool {
	switch {
	case a.slots == 0:
		return false
	case b.slots == 0:
		return true
	}
	return int64(a.inflight)*int64(b.slots) < int64(b.inflight)*int64(a.slots)
}

// same reports whether a and b are equally loaded (a tie).
func (a load) same(b load) bool { return !a.lighter(b) && !b.lighter(a) }

// loadIndex finds a pool's next worker in O(log n): a segment tree over
// the pool's workers, in pool order, each node holding the lightest load
// of the workers below it. A pool of 10,000 workers that all have
// requests in flight costs a path of 14 nodes per pick instead of a scan.
type loadIndex struct {
	n    int    // workers
	size int    // leaves: n rounded up to a power of two
	node []load // node[1] is the root; leaf i is node[size+i]
}

// build indexes ups, in order.
func (x *loadIndex) build(ups []*upstream) {
	x.n, x.size = len(ups), 1
	for x.size < x.n {
		x.size *= 2
	}
	if cap(x.node) >= 2*x.size {
		x.node = x.node[:2*x.size] // rebuilds reuse it
		clear(x.node[x.size+x.n:])
	} else {
		x.node = make([]load, 2*x.size)
	}
	for i, u := range ups {
		x.node[x.size+i] = u.load()
	}
	for i := x.size - 1; i >= 1; i-- {
		x.node[i] = lightest(x.node[2*i], x.node[2*i+1])
	}
}

// set changes the load of worker i.
func (x *loadIndex) set(i int, l load) {
	i += x.size
	x.node[i] = l
	for i /= 2; i >= 1; i /= 2 {
		x.node[i] = lightest(x.node[2*i], x.node[2*i+1])
	}
}

// lightest returns the lighter of a and b, a on a tie.
func lightest(a, b load) load {
	if b.lighter(a) {
		return b
	}
	return a
}

// next returns the position of the lightest worker that takes a request,
// the first at or after from among equally light ones (wrapping round to
// the start), or -1 when no worker takes one.
func (x *loadIndex) next(from int) int {
	if x.n == 0 || x.node[1].slots == 0 {
		return -1
	}
	best := x.node[1]
	if i := x.first(1, 0, x.size, from, best); i >= 0 {
		return i
	}
	return x.first(1, 0, x.size, 0, best)
}

// first returns the first position at or after from, within node k that
// covers [lo, hi), whose load ties best, or -1. It descends only into
// nodes whose lightest load ties best, so it visits O(log n) nodes.
func (x *loadIndex) first(k, lo, hi, from int, best load) int {
	if hi <= from || !x.node[k].same(best) {
		return -1
	}
	if hi-lo == 1 {
		return lo
	}
	mid := (lo + hi) / 2
	if i := x.first(2*k, lo, mid, from, best); i >= 0 {
		return i
	}
	return x.first(2*k+1, mid, hi, from, best)
}
