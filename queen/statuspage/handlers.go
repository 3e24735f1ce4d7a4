package statuspage

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
)

// pageData is what the page template shows.
type pageData struct {
	Summary, Nodes, Workers, Installs template.HTML
	NodeCount, WorkerCount            int
	Seq                               uint64
	Now                               int64
	CSRF                              string
	Error                             string
}

// index serves the page, or sends the browser to the login form.
func (p *page) index(w http.ResponseWriter, r *http.Request) {
	sess, _, ok := p.session(r)
	if !ok {
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	p.render(w, http.StatusOK, "page.html", p.view.page(r, sess.csrf))
}

// page returns the data of the whole page, refreshed when needed.
func (v *view) page(r *http.Request, csrf string) pageData {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.fresh(r.Context())
	d := pageData{Summary: v.summary.html(), Nodes: v.nodes.html(), Workers: v.workers.html(),
		Installs: v.installs.html(), NodeCount: len(v.nodes.order), WorkerCount: len(v.workers.order),
		Seq: v.seq, Now: v.cfg.Now().Unix(), CSRF: csrf}
	if v.err != nil {
		d.Error = v.err.Error()
	}
	return d
}

// render executes the page template name; a failure is logged and
// answered 500.
func (p *page) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := p.tpl.ExecuteTemplate(w, name, data); err != nil {
		p.cfg.Logger.Warn("status page: render", "template", name, "err", err)
	}
}

// update is the answer to a poll: the rows that changed since the page's
// sequence number, the rows that went, and the fresh heartbeat times.
type update struct {
	Seq    uint64           `json:"seq"`
	Now    int64            `json:"now"`
	Reload bool             `json:"reload,omitempty"`
	Rows   []updateRow      `json:"rows,omitempty"`
	Gone   []updateRow      `json:"gone,omitempty"`
	Beats  map[string]int64 `json:"beats,omitempty"`
	Error  string           `json:"error,omitempty"`
}

// updateRow is one row; HTML is empty in Gone.
type updateRow struct {
	Kind string        `json:"t"`
	Key  string        `json:"k"`
	HTML template.HTML `json:"h,omitempty"`
}

// updates answers a poll (GET /ui/updates?since=SEQ).
func (p *page) updates(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if _, _, ok := p.session(r); !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"not logged in"}`))
		return
	}
	since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	_ = json.NewEncoder(w).Encode(p.view.changesSince(r, since))
}

// changesSince refreshes the view when needed and collects what changed
// after seq.
func (v *view) changesSince(r *http.Request, seq uint64) update {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.fresh(r.Context())
	u := update{Seq: v.seq, Now: v.cfg.Now().Unix()}
	if v.err != nil {
		u.Error = v.err.Error()
	}
	changes, ok := v.since(seq)
	if !ok {
		u.Reload = true
		return u
	}
	seen := make(map[change]bool, len(changes))
	for _, c := range changes {
		c.seq = 0
		if seen[c] {
			continue
		}
		seen[c] = true
		v.collect(&u, c)
	}
	return u
}

// collect adds the current state of the row c names to u.
func (v *view) collect(u *update, c change) {
	if c.kind == kindBeat {
		if at, ok := v.beats[c.key]; ok {
			if u.Beats == nil {
				u.Beats = map[string]int64{}
			}
			u.Beats[c.key] = at
		}
		return
	}
	html, ok := v.rowHTML(c.kind, c.key)
	if !ok {
		u.Gone = append(u.Gone, updateRow{Kind: c.kind, Key: c.key})
		return
	}
	u.Rows = append(u.Rows, updateRow{Kind: c.kind, Key: c.key, HTML: html})
}

func (v *view) rowHTML(kind, key string) (template.HTML, bool) {
	switch kind {
	case kindNode:
		return v.nodes.row(key)
	case kindWorker:
		return v.workers.row(key)
	case kindInstall:
		return v.installs.row(key)
	default:
		return v.summary.row(key)
	}
}
