package statuspage

import (
	"bytes"
	"html/template"
	"strconv"
)

// writeNodeRow writes the row of a node, as the "node" template of
// rows.html would, byte for byte (see writeWorkerRow for why).
func writeNodeRow(b *bytes.Buffer, r nodeRow) {
	b.WriteString(`<tr id="n-`)
	escape(b, r.Name)
	b.WriteString(`" data-sort="`)
	escape(b, r.Name)
	b.WriteString(`"><td data-label="node"><b>`)
	escape(b, r.Name)
	b.WriteString(`</b></td><td data-label="status"><span class="badge st-`)
	escape(b, r.Status)
	b.WriteString(`">`)
	escape(b, r.Status)
	b.WriteString(`</span></td><td data-label="connection"><div>`)
	writeConnection(b, r)
	b.WriteString(`</td><td data-label="installed commit">`)
	writeCommit(b, r)
	b.WriteString(`</td><td data-label="last heartbeat" class="age" data-hb="`)
	b.WriteString(strconv.FormatInt(r.LastBeat, 10))
	b.WriteString(`">`)
	if r.LastBeat != 0 {
		escape(b, clock(r.LastBeat))
	} else {
		b.WriteString(`never`)
	}
	b.WriteString(`</td><td data-label="devices">`)
	writeDevices(b, r)
	b.WriteString(`</td><td data-label="workers" class="num">`)
	b.WriteString(strconv.Itoa(r.Workers))
	b.WriteString(`</td></tr>`)
}

func writeConnection(b *bytes.Buffer, r nodeRow) {
	if r.Transport != "" {
		escape(b, r.Transport)
		b.WriteString(` · `)
	}
	if r.Connected {
		b.WriteString(`<span class="badge st-online">ssh connected</span>`)
	} else if r.ConnError != "" {
		b.WriteString(`<span class="badge st-offline" title="`)
		escape(b, r.ConnError)
		b.WriteString(`">ssh down</span>`)
	}
	b.WriteString(` <span class="dim">`)
	escape(b, r.SSH)
	b.WriteString(`</span></div>`)
	if r.AgentURL != "" {
		b.WriteString(`<div class="dim">`)
		escape(b, r.AgentURL)
		b.WriteString(`</div>`)
	}
}

func writeCommit(b *bytes.Buffer, r nodeRow) {
	if r.Commit != "" {
		b.WriteString(`<code title="`)
		escape(b, r.CommitFull)
		b.WriteString(`">`)
		escape(b, r.Commit)
		b.WriteString(`</code>`)
	} else {
		b.WriteString(`<span class="dim">none</span>`)
	}
	if r.Drift {
		b.WriteString(` <span class="badge drift" title="the running agent is not the installed commit">drift: running `)
		escape(b, r.Running)
		b.WriteString(`</span>`)
	}
	if r.Behind != "" {
		b.WriteString(` <span class="badge drift" title="the branch has moved on: queen setup install updates the node">behind by `)
		escape(b, r.Behind)
		b.WriteString(`</span>`)
	}
}

func writeDevices(b *bytes.Buffer, r nodeRow) {
	for _, d := range r.Devices {
		used := d.MemoryTotal - d.MemoryFree
		b.WriteString(`<div class="dev"><span>`)
		escape(b, d.Name)
		b.WriteString(`</span> <meter min="0" max="`)
		b.WriteString(strconv.FormatInt(d.MemoryTotal, 10))
		b.WriteString(`" value="`)
		b.WriteString(strconv.FormatInt(used, 10))
		b.WriteString(`"></meter> <span class="dim">`)
		escape(b, gib(used))
		b.WriteString(` / `)
		escape(b, gib(d.MemoryTotal))
		b.WriteString(`</span></div>`)
	}
	if len(r.Devices) > 0 {
		return
	}
	for _, c := range r.Caps {
		b.WriteString(`<span class="chip">`)
		escape(b, c)
		b.WriteString(`</span> `)
	}
	if len(r.Caps) == 0 {
		b.WriteString(`<span class="dim">none reported</span>`)
	}
}

// renderNode returns the HTML of a node's row.
func (v *view) renderNode(r nodeRow) template.HTML {
	v.buf.Reset()
	writeNodeRow(&v.buf, r)
	return template.HTML(v.buf.String()) // every field escaped
}
