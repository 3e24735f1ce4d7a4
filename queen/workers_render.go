package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// renderWorkerList writes the human form of workers list: a table in the
// queen's order; filtered says whether the list was asked for with filter
// flags, for the line shown when it is empty. now gives the workers' ages.
func renderWorkerList(w io.Writer, l api.WorkerList, filtered bool, now time.Time) {
	if len(l.Workers) == 0 {
		if filtered {
			fmt.Fprintln(w, "No workers match the filters. List them all with: queen workers list")
			return
		}
		fmt.Fprintln(w, "No workers. Spawn one with: queen workers spawn --node NODE --model MODEL")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNODE\tMODEL\tBACKEND:DEVICE\tSTATE\tSLOTS\tURL\tAGE")
	for _, wk := range l.Workers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%d\t%s\t%d/%d\t%s\t%s\n",
			orDash(wk.ID), orDash(wk.Node), orDash(wk.ModelRef), orDash(wk.Backend), wk.Device,
			workerState(wk), wk.SlotsAvailable, wk.SlotsTotal, orDash(wk.URL), workerAge(wk.StartedUnix, now))
	}
	tw.Flush()
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
