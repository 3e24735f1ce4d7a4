package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// Bounds of the queen's calls to agents.
const (
	// agentCallTimeout bounds a stop or list call to an agent; a stop waits
	// for the worker's grace (10 s) and its SIGKILL.
	agentCallTimeout = 30 * time.Second
	// spawnSlack is added to a spawn's ready timeout for the call itself.
	spawnSlack = 30 * time.Second
)

// registerWorker is POST /v1/workers/register from an agent.
func (s *Server) registerWorker(w http.ResponseWriter, r *http.Request) {
	node, ok := s.authHive(w, r, "")
	if !ok {
		return
	}
	var wk api.Worker
	if !decode(w, r, &wk) {
		return
	}
	if wk.Node != "" && wk.Node != node {
		writeError(w, http.StatusForbidden, api.ErrorDetail{Code: api.CodeForbidden,
			Message: "this hive token belongs to node " + node + ", not " + wk.Node,
			Hint:    "an agent registers only its own workers"})
		return
	}
	if err := api.ValidateWorker(wk); err != nil {
		writeInvalid(w, err)
		return
	}
	created, err := s.workers.Register(node, wk, s.cfg.Now())
	if errors.Is(err, workerregistry.ErrConflict) {
		by := "another node"
		if owner, ok := s.workers.Get(wk.ID); ok {
			by = "node " + owner.Node
		}
		writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeWorkerConflict,
			Message: "worker id " + wk.ID + " is registered by " + by,
			Hint:    "worker ids are unique across the fleet; spawn the worker again to get a new id"})
		return
	}
	if err != nil {
		s.internal(w, "register worker", err)
		return
	}
	got, _ := s.workers.Get(wk.ID)
	if created {
		s.log.Info("worker registered", "node", node, "worker", wk.ID, "state", wk.State, "model", wk.ModelRef)
		writeJSON(w, http.StatusCreated, got)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

// updateWorker is POST /v1/workers/update from an agent.
func (s *Server) updateWorker(w http.ResponseWriter, r *http.Request) {
	node, ok := s.authHive(w, r, "")
	if !ok {
		return
	}
	var u api.UpdateWorkerRequest
	if !decode(w, r, &u) {
		return
	}
	if err := u.Validate(); err != nil {
		writeInvalid(w, err)
		return
	}
	got, err := s.workers.Update(node, u, s.cfg.Now())
	if s.workerError(w, node, u.ID, err) {
		return
	}
	s.log.Debug("worker updated", "node", node, "worker", u.ID, "state", u.State)
	writeJSON(w, http.StatusOK, got)
}

// removeWorker is DELETE /v1/workers/{id} from an agent.
func (s *Server) removeWorker(w http.ResponseWriter, r *http.Request) {
	node, ok := s.authHive(w, r, "")
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := api.ValidateWorkerID(id); err != nil {
		writeInvalid(w, err)
		return
	}
	_, err := s.workers.Remove(node, id)
	if s.workerError(w, node, id, err) {
		return
	}
	s.log.Info("worker removed", "node", node, "worker", id)
	w.WriteHeader(http.StatusNoContent)
}

// workerError answers a registry error of worker id for node; it returns
// false when there was none.
func (s *Server) workerError(w http.ResponseWriter, node, id string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, workerregistry.ErrNotFound):
		writeError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound,
			Message: "no worker " + id, Hint: "list the workers with `queen workers list`"})
	case errors.Is(err, workerregistry.ErrConflict):
		writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeWorkerConflict,
			Message: "worker id " + id + " is registered by another node",
			Hint:    "worker ids are unique across the fleet; spawn the worker again to get a new id"})
	case errors.Is(err, workerregistry.ErrForbidden):
		writeError(w, http.StatusForbidden, api.ErrorDetail{Code: api.CodeForbidden,
			Message: "worker " + id + " belongs to another node than " + node,
			Hint:    "an agent may only change its own workers"})
	default:
		s.internal(w, "change worker", err)
	}
	return true
}

// spawnWorker is POST /v1/workers/spawn: it asks the node's agent to start
// a worker and answers once the worker is ready and registered.
func (s *Server) spawnWorker(w http.ResponseWriter, r *http.Request) {
	var req api.SpawnWorkerRequest
	if !decode(w, r, &req) {
		return
	}
	if err := req.Validate(true); err != nil {
		writeInvalid(w, err)
		return
	}
	if req.ReadyTimeoutMS == 0 {
		req.ReadyTimeoutMS = api.DefaultReadyTimeoutMS
	}
	agent, ok := s.agentOf(w, r, req.Node)
	if !ok {
		return
	}
	timeout := time.Duration(req.ReadyTimeoutMS)*time.Millisecond + spawnSlack
	var wk api.Worker
	body := req
	body.Node = ""
	if !s.callAgent(r.Context(), w, agent, timeout, "spawn", http.MethodPost, "/v1/workers/spawn", body, &wk) {
		return
	}
	err := api.ValidateWorker(wk)
	if err == nil && wk.Node != req.Node {
		err = fmt.Errorf("node_name %q, not %q", wk.Node, req.Node)
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, api.ErrorDetail{Code: api.CodeAgentBadResponse,
			Message: fmt.Sprintf("agent of %s answered the spawn with a bad worker record: %v", req.Node, err),
			Hint:    "reinstall the agent: `queen setup install --node " + req.Node + "`"})
		return
	}
	if _, err := s.workers.Register(req.Node, wk, s.cfg.Now()); err != nil {
		s.workerError(w, req.Node, wk.ID, err)
		return
	}
	got, _ := s.workers.Get(wk.ID)
	s.log.Info("worker spawned", "node", req.Node, "worker", wk.ID, "url", wk.URL)
	writeJSON(w, http.StatusCreated, got)
}

// stopWorker is POST /v1/workers/{id}/stop: the owning agent stops it.
func (s *Server) stopWorker(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := api.ValidateWorkerID(id); err != nil {
		writeInvalid(w, err)
		return
	}
	wk, ok := s.workers.Get(id)
	if !ok {
		writeError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound,
			Message: "no worker " + id, Hint: "list the workers with `queen workers list`"})
		return
	}
	agent, ok := s.agentOf(w, r, wk.Node)
	if !ok {
		return
	}
	var stopped api.Worker
	status, detail, err := agent.call(r.Context(), agentCallTimeout, http.MethodPost, "/v1/workers/"+url.PathEscape(id)+"/stop", nil, &stopped)
	if err == nil && status/100 == 2 && stopped.ID != id {
		err = badAnswer("the stop answered worker %q", stopped.ID)
	}
	switch {
	case err != nil:
		s.agentFailed(w, agent, "stop of worker "+id, err)
		return
	case status == http.StatusNotFound:
		// The agent no longer has it: the entry was a ghost.
		stopped = wk
	case status/100 != 2:
		writeError(w, status, detail)
		return
	}
	_, _ = s.workers.Remove(wk.Node, id)
	stopped.State = api.WorkerStopping
	s.log.Info("worker stopped", "node", wk.Node, "worker", id)
	writeJSON(w, http.StatusOK, stopped)
}

// agentOf returns the agent of node, or answers 404/409 itself.
func (s *Server) agentOf(w http.ResponseWriter, r *http.Request, node string) (agent, bool) {
	n, err := s.cfg.Registry.Get(r.Context(), node)
	if errors.Is(err, hiveregistry.ErrNotFound) {
		writeNotFound(w, node)
		return agent{}, false
	}
	if err != nil {
		s.internal(w, "read node", err)
		return agent{}, false
	}
	token, err := s.cfg.Registry.AgentToken(r.Context(), node)
	if err != nil {
		s.internal(w, "read agent token", err)
		return agent{}, false
	}
	if n.Status == api.StatusStopped {
		writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeHiveStopped,
			Message: "agent of " + node + " is stopped; start it with `queen hive start --node " + node + "`",
			Hint:    "`queen hive start --node " + node + "` starts it and waits for its first heartbeat"})
		return agent{}, false
	}
	if n.Status != api.StatusOnline || n.AgentURL == "" || token == "" {
		hint := "install the agent: `queen setup install --node " + node + "`"
		if n.Status == api.StatusOffline {
			hint = "start it with `queen hive start --node " + node + "` and check `queen hive status --node " + node + "`"
		}
		writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeHiveNotOnline,
			Message: "the agent of " + node + " is not online (status " + n.Status + ")", Hint: hint})
		return agent{}, false
	}
	return agent{node: node, url: strings.TrimRight(agentBase(n), "/"), shown: n.AgentURL, token: token, http: s.agentClient(n)}, true
}
