package statuspage

import (
	"bytes"
	"html/template"
	"strconv"
	"strings"
)

// writeWorkerRow writes the row of a worker, as the "worker" template of
// rows.html would, byte for byte: a fleet has thousands of workers and
// html/template costs about 35 µs a row, this a few. Every field goes
// through escape; the markup around them is constant.
func writeWorkerRow(b *bytes.Buffer, r workerRow) {
	b.WriteString(`<tr id="w-`)
	escape(b, r.ID)
	b.WriteString(`" data-sort="`)
	escape(b, r.Node)
	b.WriteByte(' ')
	escape(b, r.ID)
	b.WriteString(`"><td data-label="worker"><code>`)
	escape(b, r.ID)
	b.WriteString(`</code></td><td data-label="model" class="model">`)
	escape(b, r.Model)
	b.WriteString(`</td><td data-label="node">`)
	escape(b, r.Node)
	b.WriteString(`</td><td data-label="device">`)
	escape(b, r.Device)
	b.WriteString(`</td><td data-label="state"><span class="badge ws-`)
	escape(b, r.State)
	b.WriteString(`">`)
	escape(b, r.State)
	if r.Exit != "" {
		b.WriteString(` (exit `)
		escape(b, r.Exit)
		b.WriteByte(')')
	}
	b.WriteString(`</span>`)
	if r.Restarts != 0 {
		b.WriteString(` <span class="dim">`)
		b.WriteString(strconv.Itoa(r.Restarts))
		b.WriteString(` restarts</span>`)
	}
	b.WriteString(`</td><td data-label="slots in use" class="num">`)
	b.WriteString(strconv.Itoa(r.SlotsUsed))
	b.WriteString(` / `)
	b.WriteString(strconv.Itoa(r.SlotsTotal))
	b.WriteString(`</td><td data-label="uptime" class="age" data-since="`)
	b.WriteString(strconv.FormatInt(r.Started, 10))
	b.WriteString(`">since `)
	escape(b, clock(r.Started))
	b.WriteString(`</td></tr>`)
}

// htmlEscaper replaces what html/template's escaper replaces in text and
// quoted attribute values, with the same entities.
var htmlEscaper = strings.NewReplacer(
	"\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;")

// escape writes s escaped for HTML text or a quoted attribute value.
func escape(b *bytes.Buffer, s string) {
	if strings.ContainsAny(s, "\x00\"&'+<>") {
		s = htmlEscaper.Replace(s)
	}
	b.WriteString(s)
}

// renderWorker returns the HTML of a worker's row.
func (v *view) renderWorker(r workerRow) template.HTML {
	v.buf.Reset()
	writeWorkerRow(&v.buf, r)
	return template.HTML(v.buf.String()) // every field escaped
}
