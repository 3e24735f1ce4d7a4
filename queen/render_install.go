package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// renderInstallReport writes the human form of an install report: a table
// with one row per node, what failed on each failed node, and a summary
// line.
func renderInstallReport(w io.Writer, r api.InstallReport) {
	if len(r.Results) == 0 {
		fmt.Fprintln(w, "No nodes to install. Add one with: queen setup add-node --name NAME --ssh-host HOST "+
			"--git-repo URL --install-path PATH")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRESULT\tCOMMIT\tMETHOD\tTIME")
	counts := map[string]int{}
	for _, res := range r.Results {
		counts[res.Result]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(res.Node), clean(res.Result), orDash(res.Commit),
			orDash(res.Method), formatElapsed(res.DurationMS))
	}
	tw.Flush()
	for _, res := range r.Results {
		if res.Result == api.ResultFailed {
			renderInstallFailure(w, res)
		}
	}
	fmt.Fprintf(w, "\n%d installed, %d up to date, %d failed\n",
		counts[api.ResultInstalled], counts[api.ResultUpToDate], counts[api.ResultFailed])
}

// renderInstallFailure writes where and why one node's install failed. A
// message of several lines (a compiler's output) keeps its lines, indented.
func renderInstallFailure(w io.Writer, res api.InstallResult) {
	phase := res.Phase
	if phase == "" {
		phase = "an unknown phase"
	}
	msg, hint := "no error message", ""
	if res.Error != nil {
		msg, hint = res.Error.Message, res.Error.Hint
	}
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	fmt.Fprintf(w, "\n❌ %s failed at %s: %s\n", clean(res.Node), clean(phase), clean(lines[0]))
	for _, l := range lines[1:] {
		fmt.Fprintf(w, "   %s\n", clean(l))
	}
	if hint != "" {
		fmt.Fprintf(w, "   hint: %s\n", clean(hint))
	}
}

// renderHiveStatus writes the human form of a node's agent status; now
// gives the age of the last heartbeat and of the last install.
func renderHiveStatus(w io.Writer, st api.HiveStatus, now time.Time) {
	fmt.Fprintf(w, "Hive %s:\n", clean(st.Node))
	field(w, "Status", st.Status)
	field(w, "Agent URL", orUnknown(st.AgentURL))
	if st.Transport != "" {
		field(w, "Transport", st.Transport)
		field(w, "SSH connection", connectionLine(st.Connection, now))
	}
	field(w, "Agent version", orUnknown(api.ShortCommit(st.AgentVersion)))
	field(w, "Installed commit", orUnknown(api.ShortCommit(st.InstalledCommit)))
	pid := "unknown"
	if st.AgentPID > 0 {
		pid = fmt.Sprint(st.AgentPID)
	}
	field(w, "Agent PID", pid)
	beat := "none since the queen started"
	if st.LastHeartbeatUnix > 0 {
		beat = fmt.Sprintf("%s (%s)", formatUnix(st.LastHeartbeatUnix),
			formatAgo(now.Sub(time.Unix(st.LastHeartbeatUnix, 0))))
	}
	field(w, "Last heartbeat", beat)
	renderDevices(w, st.Devices)
	renderLastInstall(w, st.LastInstall, now)
	field(w, "Health", healthLine(st))
}

// renderLastInstall writes the last install's line and, for a failed one,
// the first line of its error and its hint.
func renderLastInstall(w io.Writer, rec api.InstallRecord, now time.Time) {
	if rec.Result == "" {
		field(w, "Last install", "none recorded")
		return
	}
	field(w, "Last install", lastInstall(rec, now))
	if rec.Result != api.ResultFailed {
		return
	}
	if rec.Error != "" {
		field(w, "Install error", firstLine(rec.Error))
	}
	if rec.Hint != "" {
		field(w, "Install hint", rec.Hint)
	}
}

// lastInstall renders a last install as `installed 4s ago` or
// `failed in "get binary" 3m12s ago`.
func lastInstall(rec api.InstallRecord, now time.Time) string {
	line := rec.Result
	if rec.Result == api.ResultFailed && rec.Phase != "" {
		line += fmt.Sprintf(" in %q", rec.Phase)
	}
	if rec.FinishedUnix > 0 {
		line += " " + formatAgo(now.Sub(time.Unix(rec.FinishedUnix, 0)))
	}
	return line
}

// healthLine renders the health verdict: "✅ healthy" or "❌ <verdict>:
// <reason>". A queen from before verdicts sends only Healthy.
func healthLine(st api.HiveStatus) string {
	if st.Healthy {
		return "✅ " + orDefault(st.Health, api.HealthHealthy)
	}
	reason := orDefault(st.HealthError, "no answer")
	if st.Health == "" {
		return "❌ " + reason
	}
	return fmt.Sprintf("❌ %s: %s", st.Health, reason)
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// formatAgo renders an age as "4s ago", "3m12s ago", "2h05m ago" or
// "3d04h ago"; a negative age (clocks apart) is "just now".
func formatAgo(d time.Duration) string {
	d = d.Truncate(time.Second)
	switch {
	case d <= 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh ago", int(d.Hours())/24, int(d.Hours())%24)
}

// orDash returns v cleaned, or "-" when it is empty.
func orDash(v string) string {
	return orDefault(clean(v), "-")
}

// orUnknown returns v, or "unknown" when it is empty.
func orUnknown(v string) string {
	return orDefault(v, "unknown")
}

// orDefault returns v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
