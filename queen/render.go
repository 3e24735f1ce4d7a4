package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/rbee-fleet/rbee/shared/api"
)

// eventPrinter prints the events of a streamed operation as
// "[<node>] <message>" lines: errors to stderr, the rest to stdout. The last
// event's error is left to main, which prints it with its hint.
type eventPrinter struct {
	stdout, stderr io.Writer
	sawDone        bool // the last event arrived
}

// handler returns p.print, or nil for a nil printer (--json mode).
func (p *eventPrinter) handler() func(api.Event) {
	if p == nil {
		return nil
	}
	return p.print
}

// print prints one event.
func (p *eventPrinter) print(ev api.Event) {
	if ev.Done {
		p.sawDone = true
		if ev.Error != nil {
			return
		}
	}
	w := p.stdout
	if ev.Level == api.LevelError {
		w = p.stderr
	}
	fmt.Fprintln(w, eventLine(ev))
}

// eventLine renders one event for humans.
func eventLine(ev api.Event) string {
	node := ev.Node
	if node == "" {
		node = "queen"
	}
	line := fmt.Sprintf("[%s] %s", clean(node), clean(ev.Message))
	if ev.ElapsedMS > 0 {
		line += fmt.Sprintf(" (%s)", formatElapsed(ev.ElapsedMS))
	}
	return line
}

// ruleWidth is the width of the line under the list-nodes header.
const ruleWidth = 80

// renderNodeList writes the human form of list-nodes; now gives the age of
// the last install.
func renderNodeList(w io.Writer, l api.HiveList, now time.Time) {
	if len(l.Nodes) == 0 {
		fmt.Fprintln(w, "No nodes registered. Add one with: queen setup add-node --name NAME --ssh-host HOST "+
			"--git-repo URL --install-path PATH")
		return
	}
	fmt.Fprintln(w, "Registered hive nodes:")
	fmt.Fprintln(w, strings.Repeat("─", ruleWidth))
	for i, n := range l.Nodes {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (%s)\n", clean(n.NodeName), clean(sshAddress(n)))
		field(w, "Status", n.Status)
		if n.Transport != "" {
			field(w, "Transport", n.Transport)
			field(w, "SSH connection", connectionLine(n.Connection, now))
		}
		field(w, "Last connected", formatUnix(n.LastConnectedUnix))
		field(w, "Git", fmt.Sprintf("%s (%s)", n.GitRepoURL, n.GitBranch))
		field(w, "Install path", n.InstallPath)
		if n.InstalledCommit != "" {
			field(w, "Installed commit", commitLine(n))
		}
		if n.LastInstall.Result != "" {
			field(w, "Last install", lastInstall(n.LastInstall, now))
		}
		renderDevices(w, n.Devices)
		if n.SSHKeyPath != "" {
			field(w, "SSH key", n.SSHKeyPath)
		}
		fp := n.HostKeyFingerprint
		if fp == "" {
			fp = "not pinned yet"
		}
		field(w, "Host key", fp)
	}
}

// commitLine is the installed commit with its drift: "behind by <branch
// head>" when the branch moved on, "running <commit>" when the agent
// reports another version.
func commitLine(n api.Node) string {
	line := api.ShortCommit(n.InstalledCommit)
	if n.BranchHead != "" && !api.SameCommit(n.BranchHead, n.InstalledCommit) {
		line += ", behind by " + api.ShortCommit(n.BranchHead) + " (head of " + clean(n.GitBranch) + ")"
	}
	if n.AgentVersion != "" && !api.SameCommit(n.AgentVersion, n.InstalledCommit) {
		line += ", running " + clean(api.ShortCommit(n.AgentVersion))
	}
	return line
}

// connectionLine says whether the queen's pooled SSH connection is up,
// since when, and why it is not.
func connectionLine(c api.SSHConnection, now time.Time) string {
	switch {
	case c.Connected:
		return fmt.Sprintf("connected since %s (%s)", formatUnix(c.SinceUnix), formatAgo(now.Sub(time.Unix(c.SinceUnix, 0))))
	case c.SinceUnix == 0:
		return "not connected (none since the queen started)"
	case c.LastError != "":
		return fmt.Sprintf("down since %s: %s", formatUnix(c.SinceUnix), c.LastError)
	}
	return "down since " + formatUnix(c.SinceUnix)
}

// renderPreflight writes the human form of a preflight report.
func renderPreflight(w io.Writer, r api.PreflightReport) {
	fmt.Fprintf(w, "Preflight of %s:\n", clean(r.Node))
	if !r.SSHOK {
		field(w, "SSH connection", "❌ failed")
	} else {
		field(w, "SSH connection", fmt.Sprintf("✅ OK (connect %d ms)", r.ConnectMS))
	}
	if r.CommandOK {
		field(w, "Command execution", "✅ OK")
		field(w, "Latency", fmt.Sprintf("%d ms", r.LatencyMS))
	} else {
		field(w, "Command execution", "❌ failed")
	}
	field(w, "OS/arch", r.OS+"/"+r.Arch)
	field(w, "git", orMissing(r.GitVersion))
	field(w, "go", orMissing(r.GoVersion))
	field(w, "Free disk", fmt.Sprintf("%s at %s", formatBytes(r.DiskFreeBytes), r.InstallPath))
	if len(r.Problems) == 0 {
		if r.SSHOK && r.CommandOK {
			fmt.Fprintln(w, "✅ Ready to install")
		}
		return
	}
	fmt.Fprintln(w, "Problems:")
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  ❌ %s\n", clean(p))
	}
}

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// labelWidth aligns the values of field lines.
const labelWidth = len("Installed commit:") + 1

// field writes one indented "Label: value" line.
func field(w io.Writer, label, value string) {
	fmt.Fprintf(w, "  %-*s %s\n", labelWidth, label+":", clean(value))
}

// sshAddress returns user@host:port, or host:port without a user.
func sshAddress(n api.Node) string {
	addr := fmt.Sprintf("%s:%d", n.SSHHost, n.SSHPort)
	if n.SSHUser != "" {
		addr = n.SSHUser + "@" + addr
	}
	return addr
}

// formatUnix renders Unix seconds as UTC, or "never" for 0.
func formatUnix(sec int64) string {
	if sec <= 0 {
		return "never"
	}
	return time.Unix(sec, 0).UTC().Format(time.DateTime) + " UTC"
}

// formatElapsed renders milliseconds as "850ms" or "3.2s".
func formatElapsed(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

// formatBytes renders a size in binary units, e.g. "12.3 GiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// orMissing returns v, or "missing" when it is empty.
func orMissing(v string) string {
	if v == "" {
		return "missing"
	}
	return v
}

// clean replaces control and formatting characters (escape sequences,
// newlines, bidi marks) with U+FFFD so that text from the queen or from a
// node cannot rewrite the terminal or forge lines.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) && r != '\u200d' && r != '\ufe0f' {
			return '\ufffd'
		}
		return r
	}, s)
}
