package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rbee-fleet/rbee/shared/api"
)

// renderWorkerList writes the human form of workers list for one list of
// workers, as a workerPrinter prints it.
func renderWorkerList(w io.Writer, l api.WorkerList, filtered bool, now time.Time) {
	p := newWorkerPrinter(w, false, filtered, now)
	_ = p.page(l.Workers)
	_ = p.end()
}

// workerColumns are the table's headers.
var workerColumns = [...]string{"ID", "NODE", "MODEL", "BACKEND:DEVICE", "STATE", "SLOTS", "URL", "AGE"}

// workerPrinter prints the output of workers list page by page, as the
// pages come: a table in the queen's order whose columns are as wide as
// the widest cell so far (a later, wider cell widens the column from its
// page on), or with --json one JSON document {"workers": [...]}, the shape
// a single answer had, written one worker at a time. filtered says whether
// the list was asked for with filter flags, for the line shown when it is
// empty; now gives the workers' ages.
type workerPrinter struct {
	w        io.Writer
	json     bool
	filtered bool
	now      time.Time
	n        int // workers printed
	widths   [len(workerColumns) - 1]int
}

func newWorkerPrinter(w io.Writer, asJSON, filtered bool, now time.Time) *workerPrinter {
	return &workerPrinter{w: w, json: asJSON, filtered: filtered, now: now}
}

// page prints the next page of workers.
func (p *workerPrinter) page(ws []api.Worker) error {
	if p.json {
		return p.jsonPage(ws)
	}
	rows := make([][len(workerColumns)]string, 0, len(ws)+1)
	if p.n == 0 && len(ws) > 0 {
		rows = append(rows, workerColumns)
	}
	for _, wk := range ws {
		rows = append(rows, workerRow(wk, p.now))
	}
	p.n += len(ws)
	for _, r := range rows {
		for i := range p.widths {
			p.widths[i] = max(p.widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, cell := range r {
			b.WriteString(cell)
			if i < len(p.widths) {
				b.WriteString(strings.Repeat(" ", p.widths[i]-utf8.RuneCountInString(cell)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}

// workerRow returns the table cells of one worker.
func workerRow(wk api.Worker, now time.Time) [len(workerColumns)]string {
	return [...]string{orDash(wk.ID), orDash(wk.Node), orDash(wk.ModelRef), fmt.Sprintf("%s:%d", orDash(wk.Backend), wk.Device),
		workerState(wk), fmt.Sprintf("%d/%d", wk.SlotsAvailable, wk.SlotsTotal), orDash(wk.URL), workerAge(wk.StartedUnix, now)}
}

// jsonPage writes the workers of a page as elements of the document's
// array, indented as writeJSON indents a whole document.
func (p *workerPrinter) jsonPage(ws []api.Worker) error {
	var b bytes.Buffer
	for _, wk := range ws {
		if p.n == 0 {
			b.WriteString("{\n  \"workers\": [\n    ")
		} else {
			b.WriteString(",\n    ")
		}
		data, err := json.MarshalIndent(wk, "    ", "  ")
		if err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		b.Write(data)
		p.n++
	}
	if _, err := p.w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// end closes the output: the JSON document, or the line for an empty
// list.
func (p *workerPrinter) end() error {
	var err error
	switch {
	case p.json && p.n == 0:
		_, err = io.WriteString(p.w, "{\n  \"workers\": []\n}\n")
	case p.json:
		_, err = io.WriteString(p.w, "\n  ]\n}\n")
	case p.n > 0:
	case p.filtered:
		_, err = fmt.Fprintln(p.w, "No workers match the filters. List them all with: queen workers list")
	default:
		_, err = fmt.Fprintln(p.w, "No workers. Spawn one with: queen workers spawn --node NODE --model MODEL")
	}
	return err
}

// workerState returns the worker's state, with its exit code when it
// failed: "failed (exit 137)".
func workerState(w api.Worker) string {
	if w.State == api.WorkerFailed && w.ExitCode != nil {
		return fmt.Sprintf("%s (exit %d)", w.State, *w.ExitCode)
	}
	return orDash(w.State)
}

// workerAge returns how long ago startedUnix was at now, or "-" when it is
// unset.
func workerAge(startedUnix int64, now time.Time) string {
	if startedUnix <= 0 {
		return "-"
	}
	return formatAge(now.Sub(time.Unix(startedUnix, 0)))
}

// formatAge renders an age in its largest whole unit: "12s", "3m", "2h",
// "4d"; a negative age (clocks apart) is "0s".
func formatAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int64(d/time.Second), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int64(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int64(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int64(d/(24*time.Hour)))
}

// stopResult is the line `workers stop` prints for the stopped worker w:
// stopped, or killed after the grace when it ignored SIGTERM.
func stopResult(w api.Worker) string {
	id, where := clean(w.ID), fmt.Sprintf("(%s on %s)", clean(w.ModelRef), clean(w.Node))
	if w.Killed {
		return fmt.Sprintf("⚠️ worker %s %s killed after %.1f s (it ignored SIGTERM)", id, where, float64(w.StopMS)/1000)
	}
	return fmt.Sprintf("✅ worker %s stopped %s", id, where)
}
