package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/version"
)

// defaultParallel is how many nodes install at once unless asked otherwise.
const defaultParallel = 16

func (s *Server) installer() *install.Installer {
	return &install.Installer{
		Registry: s.cfg.Registry, Heartbeats: s.beats, Logger: s.log,
		QueenURL: s.cfg.QueenURL, PeerURLs: s.cfg.PeerURLs, AgentBinary: s.cfg.AgentBinary, Retry: s.cfg.Retry,
		Dial:             provision.DialOptions{Logger: s.log, OnHandshake: func(provision.Endpoint) { s.handshakes.Add(1) }},
		HeartbeatTimeout: s.cfg.HeartbeatTimeout,
		Conns:            s.pool, Forward: s.ensureForward, Hashes: &s.hashes,
	}
}

// install installs the agent on the named nodes, or all (POST /v1/install).
func (s *Server) install(w http.ResponseWriter, r *http.Request) {
	var req api.InstallRequest
	if !decode(w, r, &req) {
		return
	}
	s.runInstall(w, r, req)
}

// installOne is POST /v1/hives/{name}/install.
func (s *Server) installOne(w http.ResponseWriter, r *http.Request) {
	var req api.InstallRequest
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	req.Nodes, req.All = []string{r.PathValue("name")}, false
	s.runInstall(w, r, req)
}

func (s *Server) runInstall(w http.ResponseWriter, r *http.Request, req api.InstallRequest) {
	if req.Method == "" {
		req.Method = install.MethodAuto
	}
	if !slices.Contains([]string{install.MethodBuild, install.MethodUpload, install.MethodAuto}, req.Method) {
		writeInvalid(w, &api.FieldError{Field: "method", Value: req.Method, Rule: "must be build, upload or auto"})
		return
	}
	if req.Parallel <= 0 {
		req.Parallel = defaultParallel
	}
	nodes, ok := s.installTargets(w, r, req)
	if !ok {
		return
	}
	if s.cfg.QueenURL == "" && slices.ContainsFunc(nodes, func(n api.Node) bool { return n.Transport == api.TransportHTTP }) {
		writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeInvalidField,
			Message: "the queen does not know the URL agents of the http transport reach it at",
			Hint:    "restart it with `queen serve --advertise-url http://ADDRESS:PORT`"})
		return
	}
	p := s.newProgress(w, r, "")
	p.begin()
	if req.Check {
		s.checkAll(r.Context(), nodes, req, p)
		return
	}
	results := s.installAll(r.Context(), nodes, req, p)
	for _, n := range nodes {
		s.tokens.forget(n.NodeName) // install may have written new tokens
	}
	failed := 0
	for _, res := range results {
		if res.Result == api.ResultFailed {
			failed++
		}
	}
	p.succeed(http.StatusOK, fmt.Sprintf("install done: %d of %d node(s) failed", failed, len(results)),
		api.InstallReport{Results: results})
}

// installTargets resolves the request's nodes; it answers 4xx itself.
func (s *Server) installTargets(w http.ResponseWriter, r *http.Request, req api.InstallRequest) ([]api.Node, bool) {
	if req.All == (len(req.Nodes) > 0) {
		writeError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidField,
			Message: "name the nodes to install or ask for all, not both or neither", Hint: "pass --node N or --all"})
		return nil, false
	}
	if req.All {
		nodes, err := s.cfg.Registry.List(r.Context())
		if err != nil {
			s.internal(w, "list nodes", err)
			return nil, false
		}
		return nodes, true
	}
	var nodes []api.Node
	for i, name := range req.Nodes {
		if err := api.ValidateNodeName(name); err != nil {
			writeInvalid(w, fmt.Errorf("nodes[%d]: %w", i, err))
			return nil, false
		}
		n, err := s.cfg.Registry.Get(r.Context(), name)
		if errors.Is(err, hiveregistry.ErrNotFound) || errors.Is(err, api.ErrInvalid) {
			writeNotFound(w, name)
			return nil, false
		}
		if err != nil {
			s.internal(w, "get node", err)
			return nil, false
		}
		nodes = append(nodes, n)
	}
	return nodes, true
}

// installAll installs nodes in a sliding window of req.Parallel; every node
// is tried and has a result.
func (s *Server) installAll(ctx context.Context, nodes []api.Node, req api.InstallRequest, p *progress) []api.InstallResult {
	results := make([]api.InstallResult, len(nodes))
	var g errgroup.Group
	g.SetLimit(req.Parallel)
	in := s.installer()
	for i, n := range nodes {
		g.Go(func() error {
			results[i] = s.installNode(ctx, in, n, req.Method, p)
			return nil
		})
	}
	_ = g.Wait()
	return results
}

// installNode installs one node and records the outcome as the node's last
// install (the status is left to heartbeats). A node busy with another
// operation is refused before anything runs, so that refusal is not
// recorded.
func (s *Server) installNode(ctx context.Context, in *install.Installer, n api.Node, method string, p *progress) api.InstallResult {
	release, ok := s.reserve(n.NodeName)
	if !ok {
		return api.InstallResult{Node: n.NodeName, Result: api.ResultFailed, Phase: "start",
			Error: &api.ErrorDetail{Code: api.CodeAlreadyExists, Message: "another operation on this node is running",
				Hint: "wait for it to finish, then run install again"}}
	}
	defer release()
	s.phases.begin(n.NodeName)
	s.markInstallRunning(ctx, n.NodeName)
	res := in.Install(ctx, n, method, func(level, phase, msg string, elapsed time.Duration) {
		s.phases.report(n.NodeName, phase, elapsed)
		p.nodeEvent(n.NodeName, level, phase, msg, elapsed)
	})
	if res.Error != nil {
		p.nodeEvent(n.NodeName, api.LevelError, res.Phase, "❌ "+firstLine(res.Error.Message), 0)
	}
	s.phases.end(n.NodeName, res.Result, res.Phase)
	s.recordInstall(ctx, res)
	return res
}

// recordInstall stores res as the node's last install, also when the
// install was cancelled; a failure to store it is logged.
func (s *Server) recordInstall(ctx context.Context, res api.InstallResult) {
	rec := api.NewInstallRecord(res, s.cfg.Now().Unix())
	if err := s.cfg.Registry.RecordInstall(context.WithoutCancel(ctx), res.Node, rec); err != nil {
		s.log.Warn("record the last install", "node", res.Node, "err", err)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// uninstall is POST /v1/hives/{name}/uninstall.
func (s *Server) uninstall(w http.ResponseWriter, r *http.Request) {
	var req api.UninstallRequest
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	s.nodeOp(w, r, func(ctx context.Context, in *install.Installer, n api.Node, report install.Reporter) (string, error) {
		if err := in.Uninstall(ctx, n, req.KeepSource, report); err != nil {
			return "", err
		}
		s.forwards.drop(n.NodeName)
		s.agentStopped(n.NodeName)
		return "✅ done", nil
	})
}

// startHive is POST /v1/hives/{name}/start.
func (s *Server) startHive(w http.ResponseWriter, r *http.Request) {
	s.nodeOp(w, r, func(ctx context.Context, in *install.Installer, n api.Node, report install.Reporter) (string, error) {
		return "✅ done", in.Start(ctx, n, report)
	})
}

// stopHive is POST /v1/hives/{name}/stop. A node with an agent installed
// is stopped at once and stays so, across queen restarts, until a beat
// shows its agent again. The agent's SIGTERM stops its workers; the final
// message says how many the queen listed for the node before the stop.
func (s *Server) stopHive(w http.ResponseWriter, r *http.Request) {
	s.nodeOp(w, r, func(ctx context.Context, in *install.Installer, n api.Node, report install.Reporter) (string, error) {
		before := stopWitness{workers: len(s.workers.List(api.WorkerFilter{Node: n.NodeName}))}
		if b, ok := s.beats.running(n.NodeName, s.cfg.Now(), s.cfg.StaleAfter); ok {
			before.pid = b.req.PID
		}
		if err := in.Stop(ctx, n, before.watch(report)); err != nil {
			return "", err
		}
		s.agentStopped(n.NodeName)
		if n.AgentURL != "" { // with nothing installed the status stays
			s.setStatus(ctx, n.NodeName, api.StatusStopped)
		}
		return before.message(n.NodeName), nil
	})
}

// nodeOp runs one streamed SSH operation on the node of the path and ends
// with the message op returns and the node's status; a failure ends with
// the code and hint of the step that failed (see opFailure).
func (s *Server) nodeOp(w http.ResponseWriter, r *http.Request,
	op func(context.Context, *install.Installer, api.Node, install.Reporter) (string, error)) {
	n, ok := s.lookup(w, r)
	if !ok {
		return
	}
	release, ok := s.reserve(n.NodeName)
	if !ok {
		writeBusy(w, n.NodeName)
		return
	}
	defer release()
	p := s.newProgress(w, r, n.NodeName)
	p.beforeEnd = release
	p.begin()
	msg, err := op(r.Context(), s.installer(), n, func(level, phase, msg string, elapsed time.Duration) {
		p.nodeEvent(n.NodeName, level, phase, msg, elapsed)
	})
	s.tokens.forget(n.NodeName) // uninstall clears the tokens
	if err != nil {
		p.fail(opFailure(err, n))
		return
	}
	p.succeed(http.StatusOK, msg, s.status(r.Context(), n.NodeName))
}

// hiveStatus is GET /v1/hives/{name}/status.
func (s *Server) hiveStatus(w http.ResponseWriter, r *http.Request) {
	n, ok := s.lookup(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.status(r.Context(), n.NodeName))
}

// status combines the registry row, the last heartbeat and a health check
// of the agent.
func (s *Server) status(ctx context.Context, name string) api.HiveStatus {
	n, err := s.cfg.Registry.Get(ctx, name)
	if err != nil {
		return api.HiveStatus{Node: name, Health: api.HealthUnreachable, HealthError: err.Error()}
	}
	st := api.HiveStatus{Node: name, Status: n.Status, AgentURL: n.AgentURL, AgentVersion: n.AgentVersion,
		InstalledCommit: n.InstalledCommit, LastInstall: n.LastInstall}
	if b, ok := s.beats.last(name); ok && b.req.PID != 0 {
		st.AgentPID, st.LastHeartbeatUnix = b.req.PID, b.at.Unix()
	}
	st.Transport, st.Connection = n.Transport, s.connection(name)
	st.Devices = s.beats.devicesOf(name)
	h := health{verdict: api.HealthUnreachable, reason: "no agent installed"}
	if n.AgentURL != "" {
		h = checkHealth(ctx, s.agentClient(n), n)
	}
	st.Health, st.HealthError, st.RunningVersion = h.verdict, h.reason, h.version
	st.Healthy = h.verdict == api.HealthHealthy
	return st
}

// health is the verdict on an agent's health answer.
type health struct {
	verdict string // api.HealthHealthy, …
	reason  string // why it is not healthy
	version string // the version the agent answered
}

// maxHealthBody bounds the health answer the queen reads.
const maxHealthBody = 64 << 10

// checkHealth asks the agent's /v1/health with a short timeout and judges
// the answer against what install recorded of n.
func checkHealth(ctx context.Context, client *http.Client, n api.Node) health {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, agentBase(n)+"/v1/health", nil)
	if err != nil {
		return health{verdict: api.HealthUnreachable, reason: err.Error()}
	}
	resp, err := client.Do(req)
	if err != nil {
		return health{verdict: api.HealthUnreachable, reason: err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return health{verdict: api.HealthUnreachable, reason: "read the health answer: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return health{verdict: api.HealthIncompatible, reason: "health answered " + resp.Status}
	}
	return judgeHealth(body, n)
}

// judgeHealth judges a 200 answer of /v1/health: it must be an api.Health
// of status alive and API v1, from the agent install put there: its
// version is the installed commit or the version that agent reported at
// install (an uploaded agent says the queen's build). Commits compare by
// prefix, as one side may be 12 hex digits and the other 40.
func judgeHealth(body []byte, n api.Node) health {
	var h api.Health
	if err := json.Unmarshal(body, &h); err != nil {
		return health{verdict: api.HealthIncompatible, reason: "health answer is not a health body: " + err.Error()}
	}
	bad := health{verdict: api.HealthIncompatible, version: h.Version}
	switch {
	case h.Status != api.HealthAlive:
		bad.reason = fmt.Sprintf("health status %q, want %q", h.Status, api.HealthAlive)
	case h.APIVersion != version.APIVersion:
		bad.reason = fmt.Sprintf("agent speaks API %q, the queen %q", h.APIVersion, version.APIVersion)
	case h.Version == "":
		bad.reason = "agent answered no version"
	case !installedVersion(h.Version, n):
		bad.verdict = api.HealthDrift
		bad.reason = fmt.Sprintf("running %s, installed %s", api.ShortCommit(h.Version), api.ShortCommit(n.InstalledCommit))
	default:
		return health{verdict: api.HealthHealthy, version: h.Version}
	}
	return bad
}

// installedVersion reports whether running is the version of the agent
// install put on n; with nothing recorded there is nothing to compare.
func installedVersion(running string, n api.Node) bool {
	if n.InstalledCommit == "" && n.AgentVersion == "" {
		return true
	}
	for _, want := range []string{n.InstalledCommit, n.AgentVersion} {
		if want != "" && (running == want || api.SameCommit(running, want)) {
			return true
		}
	}
	return false
}
