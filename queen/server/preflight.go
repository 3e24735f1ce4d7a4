package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
)

// minFreeBytes is the free space below which preflight reports a problem:
// a checkout plus a Go build of the agent needs a few hundred MiB.
const minFreeBytes = 1 << 30

// probeScript prints, one per line: OS, arch, git version, go version, and
// the free KiB on the file system of $1 or its nearest existing parent. The
// install path arrives as $1, quoted by provision.Command, never pasted in.
const probeScript = `uname -s; uname -m
git --version 2>/dev/null || echo
go version 2>/dev/null || echo
p=$1; while [ ! -e "$p" ]; do p=$(dirname "$p"); done
df -Pk "$p" | awk 'NR==2 {print $4}'`

// preflight checks a registered node over one SSH connection
// (POST /v1/hives/{name}/preflight).
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	n, ok := s.lookup(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	p := s.newProgress(w, r, n.NodeName)
	p.begin()
	start := s.cfg.Now()
	// A fresh connection, not the pooled one: preflight checks the path to
	// the node as it is now (a host key changed since the pool connected
	// shows here). It then replaces the pooled connection.
	c, err := s.connect(ctx, targetOf(n, 0), p)
	if err == nil {
		s.pool.Put(n, c)
	}
	if err != nil {
		if errors.Is(err, provision.ErrNetwork) {
			_ = s.cfg.Registry.SetStatus(ctx, n.NodeName, api.StatusUnreachable, nil)
		}
		p.fail(sshFailure(err, n.NodeName, n.HostKey != ""))
		return
	}
	report := api.PreflightReport{Node: n.NodeName, SSHOK: true, InstallPath: n.InstallPath,
		ConnectMS: s.cfg.Now().Sub(start).Milliseconds()}
	p.event(api.LevelInfo, "connect", fmt.Sprintf("SSH connection OK (%d ms)", report.ConnectMS), 0, 0)
	if err := s.probe(ctx, c, &report, p); err != nil {
		p.fail(sshFailure(&commandError{err}, n.NodeName, true))
		return
	}
	if n.Transport != api.TransportHTTP {
		forwarding := install.CheckForwarding(ctx, c)
		report.Problems = append(report.Problems, forwarding...)
		if len(forwarding) > 0 {
			report.Problems = append(report.Problems, strings.ReplaceAll(install.SSHDConfigHint, "NODE", n.NodeName))
		} else {
			p.event(api.LevelInfo, "probe", "SSH forwarding OK (the ssh transport can work)", 0, 0)
		}
	} else if problem := install.CheckDirectPort(ctx, c.Endpoint().HostName, n.AgentPort); problem != "" {
		report.Problems = append(report.Problems, problem)
	}
	s.recordContact(ctx, n)
	p.succeed(http.StatusOK, preflightSummary(n.NodeName, len(report.Problems)), report)
}

func (s *Server) probe(ctx context.Context, c *provision.Client, report *api.PreflightReport, p *progress) error {
	if err := testCommand(ctx, c); err != nil {
		return err
	}
	report.CommandOK = true
	p.event(api.LevelInfo, "probe", "command execution OK", 0, 0)
	start := time.Now()
	if _, err := c.Run(ctx, "true"); err != nil {
		return fmt.Errorf("measure latency: %w", err)
	}
	report.LatencyMS = time.Since(start).Milliseconds()
	out, err := c.Run(ctx, provision.Command("sh", "-c", probeScript, "sh", report.InstallPath))
	if err != nil {
		return fmt.Errorf("probe the node: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	for len(lines) < 5 {
		lines = append(lines, "")
	}
	report.OS, report.Arch = strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1])
	report.GitVersion, report.GoVersion = strings.TrimSpace(lines[2]), strings.TrimSpace(lines[3])
	if kib, err := strconv.ParseInt(strings.TrimSpace(lines[4]), 10, 64); err == nil {
		report.DiskFreeBytes = kib * 1024
	}
	report.Problems = problems(*report)
	return nil
}

func problems(r api.PreflightReport) []string {
	var out []string
	if r.GitVersion == "" {
		out = append(out, "git is missing: install it on the node (e.g. `apt-get install git`)")
	}
	if r.GoVersion == "" {
		out = append(out, "go is missing: install Go 1.26 on the node, or install with `--method upload`")
	}
	if r.DiskFreeBytes < minFreeBytes {
		out = append(out, fmt.Sprintf("only %d MiB free at %s: free at least 1 GiB or pick another --install-path",
			r.DiskFreeBytes>>20, r.InstallPath))
	}
	return out
}

// recordContact stores a successful SSH contact. An unreachable node becomes
// reachable again; any other status (installed, online, …) is the agent's
// business and stays.
func (s *Server) recordContact(ctx context.Context, n api.Node) {
	now := s.cfg.Now()
	status := n.Status
	if status == api.StatusUnreachable {
		status = api.StatusReachable
	}
	if err := s.cfg.Registry.SetStatus(ctx, n.NodeName, status, &now); err != nil {
		s.log.Warn("record contact", "node", n.NodeName, "err", err)
	}
}

// preflightSummary is the last line of a preflight: ✅ only when nothing
// would stop an install.
func preflightSummary(node string, problems int) string {
	if problems == 0 {
		return fmt.Sprintf("✅ Preflight of '%s' done: ready to install", node)
	}
	return fmt.Sprintf("❌ Preflight of '%s' done: %d problem(s) would stop an install", node, problems)
}
