package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
)

// defaultParallel is how many nodes install at once unless asked otherwise.
const defaultParallel = 16

func (s *Server) installer() *install.Installer {
	return &install.Installer{
		Registry: s.cfg.Registry, Heartbeats: s.beats, Logger: s.log,
		QueenURL: s.cfg.QueenURL, AgentBinary: s.cfg.AgentBinary, Retry: s.cfg.Retry,
		Dial:             provision.DialOptions{Logger: s.log, OnHandshake: func(provision.Endpoint) { s.handshakes.Add(1) }},
		HeartbeatTimeout: s.cfg.HeartbeatTimeout,
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
		writeError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidField,
			Message: fmt.Sprintf("invalid method %q: must be build, upload or auto", req.Method)})
		return
	}
	if req.Parallel <= 0 {
		req.Parallel = defaultParallel
	}
	nodes, ok := s.installTargets(w, r, req)
	if !ok {
		return
	}
	if s.cfg.QueenURL == "" {
		writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeInvalidField,
			Message: "the queen does not know the URL agents reach it at",
			Hint:    "restart it with `queen serve --advertise-url http://ADDRESS:PORT`"})
		return
	}
	p := s.newProgress(w, r, "")
	p.begin()
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
	for _, name := range req.Nodes {
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

func (s *Server) installNode(ctx context.Context, in *install.Installer, n api.Node, method string, p *progress) api.InstallResult {
	release, ok := s.reserve(n.NodeName)
	if !ok {
		return api.InstallResult{Node: n.NodeName, Result: api.ResultFailed, Phase: "start",
			Error: &api.ErrorDetail{Code: api.CodeAlreadyExists, Message: "another operation on this node is running",
				Hint: "wait for it to finish, then run install again"}}
	}
	defer release()
	res := in.Install(ctx, n, method, func(level, phase, msg string, elapsed time.Duration) {
		p.nodeEvent(n.NodeName, level, phase, msg, elapsed)
	})
	if res.Error != nil {
		p.nodeEvent(n.NodeName, api.LevelError, res.Phase, "❌ "+firstLine(res.Error.Message), 0)
	}
	return res
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
	s.nodeOp(w, r, func(ctx context.Context, in *install.Installer, n api.Node, report install.Reporter) error {
		return in.Uninstall(ctx, n, req.KeepSource, report)
	})
}

// startHive is POST /v1/hives/{name}/start.
func (s *Server) startHive(w http.ResponseWriter, r *http.Request) {
	s.nodeOp(w, r, func(ctx context.Context, in *install.Installer, n api.Node, report install.Reporter) error {
		return in.Start(ctx, n, report)
	})
}

// stopHive is POST /v1/hives/{name}/stop.
func (s *Server) stopHive(w http.ResponseWriter, r *http.Request) {
	s.nodeOp(w, r, func(ctx context.Context, in *install.Installer, n api.Node, report install.Reporter) error {
		return in.Stop(ctx, n, report)
	})
}

// nodeOp runs one streamed SSH operation on the node of the path and ends
// with the node's status.
func (s *Server) nodeOp(w http.ResponseWriter, r *http.Request,
	op func(context.Context, *install.Installer, api.Node, install.Reporter) error) {
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
	err := op(r.Context(), s.installer(), n, func(level, phase, msg string, elapsed time.Duration) {
		p.nodeEvent(n.NodeName, level, phase, msg, elapsed)
	})
	s.tokens.forget(n.NodeName) // uninstall clears the tokens
	if err != nil {
		status, detail := sshFailure(err, n.NodeName, n.HostKey != "")
		p.fail(status, detail)
		return
	}
	p.succeed(http.StatusOK, "✅ done", s.status(r.Context(), n.NodeName))
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
		return api.HiveStatus{Node: name, HealthError: err.Error()}
	}
	st := api.HiveStatus{Node: name, Status: n.Status, AgentURL: n.AgentURL, AgentVersion: n.AgentVersion,
		InstalledCommit: n.InstalledCommit}
	if b, ok := s.beats.last(name); ok && b.req.PID != 0 {
		st.AgentPID, st.LastHeartbeatUnix = b.req.PID, b.at.Unix()
	}
	if n.AgentURL == "" {
		st.HealthError = "no agent installed"
		return st
	}
	st.Healthy, st.HealthError = checkHealth(ctx, n.AgentURL)
	return st
}

// checkHealth asks the agent's /v1/health with a short timeout.
func checkHealth(ctx context.Context, agentURL string) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, agentURL+"/v1/health", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, resp.Status
	}
	return true, ""
}
