package workerregistry

import (
	"strings"

	"github.com/google/btree"
	"github.com/rbee-fleet/rbee/shared/api"
)

// treeDegree is the B-tree degree of the indexes: nodes of up to 63
// pointers keep a tree of 160,000 entries four levels deep.
const treeDegree = 32

// tree is an ordered set of entries in list order: node, then id.
type tree = btree.BTreeG[*entry]

func newTree() *tree { return btree.NewG(treeDegree, lessEntry) }

func lessEntry(a, b *entry) bool { return compareEntries(a, b) < 0 }

func compareEntries(a, b *entry) int {
	if c := strings.Compare(a.w.Node, b.w.Node); c != 0 {
		return c
	}
	return strings.Compare(a.w.ID, b.w.ID)
}

// capKey is a worker's capability as an index key: the cpu backend has one
// device, 0, whatever the record says.
type capKey struct {
	backend string
	device  int
}

func capOf(w *api.Worker) capKey {
	if w.Backend == api.BackendCPU {
		return capKey{backend: api.BackendCPU}
	}
	return capKey{backend: w.Backend, device: w.Device}
}

// index keeps every entry in list order (all) and once more in the tree of
// its model, its capability and its state, so a filtered walk visits only
// the entries of its smallest matching tree. A key with no entries has no
// tree. Node and id never change for an entry, so its place in every tree
// is fixed; a change of model, capability or state moves it between trees.
type index struct {
	all   *tree
	model map[string]*tree
	capab map[capKey]*tree
	state map[string]*tree
}

func newIndex() index {
	return index{all: newTree(), model: map[string]*tree{}, capab: map[capKey]*tree{}, state: map[string]*tree{}}
}

// add puts a new entry in every tree.
func (x *index) add(e *entry) {
	x.all.ReplaceOrInsert(e)
	addTo(x.model, e.w.ModelRef, e)
	addTo(x.capab, capOf(&e.w), e)
	addTo(x.state, e.w.State, e)
}

// remove takes e out of every tree.
func (x *index) remove(e *entry) {
	x.all.Delete(e)
	removeFrom(x.model, e.w.ModelRef, e)
	removeFrom(x.capab, capOf(&e.w), e)
	removeFrom(x.state, e.w.State, e)
}

// set stores w (same node and id) in e and moves e to the trees of its
// new model, capability and state. Every change of a stored record goes
// through set, so the trees never disagree with the records.
func (x *index) set(e *entry, w api.Worker) {
	old := e.w
	e.w = w
	if old.ModelRef != w.ModelRef {
		removeFrom(x.model, old.ModelRef, e)
		addTo(x.model, w.ModelRef, e)
	}
	if oc, nc := capOf(&old), capOf(&w); oc != nc {
		removeFrom(x.capab, oc, e)
		addTo(x.capab, nc, e)
	}
	if old.State != w.State {
		removeFrom(x.state, old.State, e)
		addTo(x.state, w.State, e)
	}
}

func addTo[K comparable](m map[K]*tree, k K, e *entry) {
	t, ok := m[k]
	if !ok {
		t = newTree()
		m[k] = t
	}
	t.ReplaceOrInsert(e)
}

// removeFrom takes e out of k's tree; the tree goes when it empties.
func removeFrom[K comparable](m map[K]*tree, k K, e *entry) {
	t, ok := m[k]
	if !ok {
		return
	}
	t.Delete(e)
	if t.Len() == 0 {
		delete(m, k)
	}
}
