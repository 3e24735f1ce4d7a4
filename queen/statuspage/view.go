package statuspage

import (
	"bytes"
	"context"
	"html/template"
	"sort"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Kinds of rows; each is also the prefix of its rows' element ids.
const (
	kindSummary = "s"
	kindNode    = "n"
	kindWorker  = "w"
	kindInstall = "i"
	kindBeat    = "b" // a heartbeat time, sent apart from its node's row
)

const (
	// refreshEvery is how old the shared view may get before a request
	// refreshes it; with the page's 750 ms poll a change shows within 2 s.
	refreshEvery = time.Second
	// maxLog bounds the change log; a page further behind reloads.
	maxLog = 1 << 17
	// nodesMaxAge is how long the nodes read from a registry that says
	// when it changes (Changed) are used without a write.
	nodesMaxAge = 30 * time.Second
)

// changeNotifier is a Nodes that says when its nodes change
// (hiveregistry.Registry.Changed): the view then re-reads them only after
// a write, not at every refresh.
type changeNotifier interface {
	Changed() <-chan struct{}
}

// change is one entry of the change log: the row kind/key changed (or went)
// at seq.
type change struct {
	seq  uint64
	kind string
	key  string
}

// view is the fleet as the pages show it, shared by every open page.
type view struct {
	cfg Config
	tpl *template.Template

	mu        sync.Mutex
	refreshed time.Time
	err       error // of the last refresh; the rows before it stay
	seq       uint64
	log       []change
	buf       bytes.Buffer
	workersCh <-chan struct{} // closed when the workers changed since the last listing
	nodesCh   <-chan struct{} // closed when the nodes changed since nodeList was read
	nodeList  []api.Node      // the nodes last read
	nodesRead time.Time       // when nodeList was read
	perNode   map[string]int  // workers per node, at the last listing
	beats     map[string]int64
	summary   table[summaryRow]
	nodes     table[nodeRow]
	workers   table[workerRow]
	installs  table[installRow]
}

// newView returns the view with its tables; worker and node rows are
// written by writeWorkerRow and writeNodeRow, not the templates (they are
// the most by far).
func newView(cfg Config, tpl *template.Template) *view {
	v := &view{cfg: cfg, tpl: tpl, beats: map[string]int64{}, perNode: map[string]int{},
		summary:  newTable(kindSummary, "summary", summaryRow.equal),
		nodes:    newTable(kindNode, "node", nodeRow.equal),
		workers:  newTable(kindWorker, "worker", func(a, b workerRow) bool { return a == b }),
		installs: newTable(kindInstall, "install", installRow.equal)}
	v.workers.write, v.nodes.write = v.renderWorker, v.renderNode
	return v
}

// fresh refreshes the view when it is older than refreshEvery. The caller
// holds mu.
func (v *view) fresh(ctx context.Context) {
	if now := v.cfg.Now(); v.seq == 0 || now.Sub(v.refreshed) >= refreshEvery {
		v.err = v.refresh(ctx)
		v.refreshed = now
	}
}

// refresh reads the registries and updates the rows that changed. The
// caller holds mu.
func (v *view) refresh(ctx context.Context) error {
	nodes, err := v.listNodes(ctx)
	if err != nil {
		return err
	}
	if v.workersChanged() {
		v.workersCh = v.cfg.Workers.Changed()
		keys, rows, perNode := workerRows(v.cfg.Workers.List(api.WorkerFilter{}))
		v.perNode = perNode
		if err := v.workers.sync(v, keys, rows); err != nil {
			return err
		}
	}
	hives := v.hives(nodes)
	v.syncBeats(nodes, hives)
	keys, rows := nodeRows(nodes, hives, v.cfg.Connections, v.perNode)
	if err := v.nodes.sync(v, keys, rows); err != nil {
		return err
	}
	keys, irows := installRows(nodes, v.cfg.Installs)
	if err := v.installs.sync(v, keys, irows); err != nil {
		return err
	}
	return v.summary.sync(v, []string{"all"}, []summaryRow{newSummary(nodes, v.workers.rows)})
}

// listNodes returns the registry's nodes: those read before when the registry
// says nothing was written since (and they are younger than nodesMaxAge),
// else read again. The caller holds mu.
func (v *view) listNodes(ctx context.Context) ([]api.Node, error) {
	now := v.cfg.Now()
	if v.nodesCh != nil && !isClosed(v.nodesCh) && now.Sub(v.nodesRead) < nodesMaxAge {
		return v.nodeList, nil
	}
	v.nodesCh = nil
	if n, ok := v.cfg.Nodes.(changeNotifier); ok {
		v.nodesCh = n.Changed() // before the read: a write during it is not missed
	}
	nodes, err := v.cfg.Nodes.List(ctx)
	if err != nil {
		v.nodesCh = nil
		return nil, err
	}
	v.nodeList, v.nodesRead = nodes, now
	return nodes, nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// workersChanged reports whether the workers must be listed again.
func (v *view) workersChanged() bool {
	if v.workersCh == nil {
		return true
	}
	select {
	case <-v.workersCh:
		return true
	default:
		return false
	}
}

// hives returns the last heartbeat of each node that has one.
func (v *view) hives(nodes []api.Node) map[string]Hive {
	out := make(map[string]Hive, len(nodes))
	if v.cfg.Hives == nil {
		return out
	}
	for _, n := range nodes {
		if h, ok := v.cfg.Hives.Hive(n.NodeName); ok {
			out[n.NodeName] = h
		}
	}
	return out
}

// syncBeats logs the heartbeat times that changed.
func (v *view) syncBeats(nodes []api.Node, hives map[string]Hive) {
	for _, n := range nodes {
		at := beatUnix(hives[n.NodeName])
		if old, ok := v.beats[n.NodeName]; !ok || old != at {
			v.beats[n.NodeName] = at
			v.bump(kindBeat, n.NodeName)
		}
	}
	if len(v.beats) > len(nodes) {
		names := make(map[string]bool, len(nodes))
		for _, n := range nodes {
			names[n.NodeName] = true
		}
		for name := range v.beats {
			if !names[name] {
				delete(v.beats, name)
			}
		}
	}
}

// bump logs a change of kind/key and returns its sequence number.
func (v *view) bump(kind, key string) uint64 {
	v.seq++
	v.log = append(v.log, change{seq: v.seq, kind: kind, key: key})
	if len(v.log) > maxLog {
		v.log = append([]change(nil), v.log[len(v.log)/2:]...)
	}
	return v.seq
}

// render executes the row template name for data.
func (v *view) render(name string, data any) (template.HTML, error) {
	v.buf.Reset()
	if err := v.tpl.ExecuteTemplate(&v.buf, name, data); err != nil {
		return "", err
	}
	return template.HTML(v.buf.String()), nil // html/template escaped every field
}

// since returns the log entries after seq, and false when the log no
// longer reaches back that far (or seq is not one of this view's).
func (v *view) since(seq uint64) ([]change, bool) {
	if seq == 0 || seq > v.seq {
		return nil, false
	}
	i := sort.Search(len(v.log), func(i int) bool { return v.log[i].seq > seq })
	if len(v.log) > 0 && v.log[0].seq > seq+1 {
		return nil, false
	}
	return v.log[i:], true
}

// entry is a row with its rendered HTML and when it last changed.
type entry[T any] struct {
	data T
	html template.HTML
}

// table is the rows of one kind, in display order.
type table[T any] struct {
	kind, tmpl string
	rows       map[string]*entry[T]
	order      []string
	equal      func(a, b T) bool
	// write, when set, renders a row instead of the template tmpl.
	write func(T) template.HTML
}

func newTable[T any](kind, tmpl string, equal func(a, b T) bool) table[T] {
	return table[T]{kind: kind, tmpl: tmpl, rows: map[string]*entry[T]{}, equal: equal}
}

// sync makes the table hold items (keys[i] is the key of items[i], keys
// unique and in display order): changed and new rows are rendered and
// logged, missing ones deleted and logged.
func (t *table[T]) sync(v *view, keys []string, items []T) error {
	for i, k := range keys {
		e, ok := t.rows[k]
		if ok && t.equal(e.data, items[i]) {
			continue
		}
		html, err := t.render(v, items[i])
		if err != nil {
			return err
		}
		t.rows[k] = &entry[T]{data: items[i], html: html}
		v.bump(t.kind, k)
	}
	if len(t.rows) > len(keys) {
		t.dropMissing(v, keys)
	}
	t.order = keys
	return nil
}

// render returns the HTML of item.
func (t *table[T]) render(v *view, item T) (template.HTML, error) {
	if t.write != nil {
		return t.write(item), nil
	}
	return v.render(t.tmpl, item)
}

func (t *table[T]) dropMissing(v *view, keys []string) {
	keep := make(map[string]bool, len(keys))
	for _, k := range keys {
		keep[k] = true
	}
	for k := range t.rows {
		if !keep[k] {
			delete(t.rows, k)
			v.bump(t.kind, k)
		}
	}
}

// html returns the rows' HTML in display order.
func (t *table[T]) html() template.HTML {
	n := 0
	for _, k := range t.order {
		n += len(t.rows[k].html)
	}
	var b bytes.Buffer
	b.Grow(n)
	for _, k := range t.order {
		b.WriteString(string(t.rows[k].html))
	}
	return template.HTML(b.String())
}

// row returns the HTML of the row key, false when there is none.
func (t *table[T]) row(key string) (template.HTML, bool) {
	e, ok := t.rows[key]
	if !ok {
		return "", false
	}
	return e.html, true
}
