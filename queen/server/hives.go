package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := s.cfg.Registry.List(r.Context())
	if err != nil {
		s.internal(w, "list nodes", err)
		return
	}
	if nodes == nil {
		nodes = []api.Node{}
	}
	for i := range nodes {
		nodes[i].Connection = s.connection(nodes[i].NodeName)
		s.heads.fill(&nodes[i])
		nodes[i].Devices = s.beats.devicesOf(nodes[i].NodeName)
	}
	writeJSON(w, http.StatusOK, api.HiveList{Nodes: nodes})
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	n, ok := s.lookup(w, r)
	if ok {
		n.Connection = s.connection(n.NodeName)
		s.heads.fill(&n)
		n.Devices = s.beats.devicesOf(n.NodeName)
		writeJSON(w, http.StatusOK, n)
	}
}

// removeNode is DELETE /v1/hives/{name}[?force=true]. A node whose agent
// still heartbeats is refused with 409 AGENT_RUNNING unless forced; the
// hive token of a removed node is recorded, so that its agent's next
// heartbeat is answered 410 NODE_REMOVED.
func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := api.ValidateNodeName(name); err != nil {
		writeInvalid(w, err)
		return
	}
	force, err := forceParam(r)
	if err != nil {
		writeInvalid(w, err)
		return
	}
	release, ok := s.reserve(name)
	if !ok {
		writeBusy(w, name)
		return
	}
	defer release()
	running, isRunning := s.beats.running(name, s.cfg.Now(), s.cfg.StaleAfter)
	workers := len(s.workers.List(api.WorkerFilter{Node: name}))
	if isRunning && !force {
		writeAgentRunning(w, name, running.req.PID, workers)
		return
	}
	if !s.forgetNode(w, r, name) {
		return
	}
	resp := api.RemoveNodeResponse{Removed: name}
	if isRunning {
		resp.AgentPID = running.req.PID
		resp.Warning = fmt.Sprintf("the agent of %s (pid %d, %d worker(s)) keeps running on the node, unmanaged; "+
			"its next heartbeat is refused", name, running.req.PID, workers)
		s.log.Warn("node removed with force; its agent keeps running", "node", name, "pid", running.req.PID, "workers", workers)
	}
	writeJSON(w, http.StatusOK, resp)
}

// forceParam reads the force query parameter ("" is false).
func forceParam(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("force")
	if v == "" {
		return false, nil
	}
	force, err := strconv.ParseBool(v)
	if err != nil {
		return false, &api.FieldError{Field: "force", Value: v, Rule: "must be true or false"}
	}
	return force, nil
}

// forgetNode removes the node from the registry, recording its hive token,
// and drops its tokens, beats and workers; it answers 404 or 500 itself.
func (s *Server) forgetNode(w http.ResponseWriter, r *http.Request, name string) bool {
	err := s.cfg.Registry.RemoveRecordingToken(r.Context(), name)
	if errors.Is(err, hiveregistry.ErrNotFound) {
		writeNotFound(w, name)
		return false
	}
	if err != nil {
		s.internal(w, "remove node", err)
		return false
	}
	s.tokens.forget(name)
	s.beats.forget(name)
	s.forwards.drop(name)
	s.pool.Remove(name)
	if gone := s.workers.RemoveNode(name); gone > 0 {
		s.log.Info("workers of the removed node forgotten", "node", name, "workers", gone)
	}
	s.log.Info("node removed", "node", name)
	return true
}

// writeAgentRunning refuses to remove a node whose agent heartbeats.
func writeAgentRunning(w http.ResponseWriter, name string, pid, workers int) {
	writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeAgentRunning,
		Message: fmt.Sprintf("the agent of %s is running (pid %d, %d worker(s)); removing the node would leave them "+
			"running unmanaged", name, pid, workers),
		Hint: fmt.Sprintf("stop and uninstall it with `queen setup remove-node --name %s --uninstall`, or run "+
			"`queen setup uninstall --node %s` first; --force forgets the node and leaves the agent running", name, name)})
}

// lookup answers 400 or 404 itself when the node of the path is not there.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (api.Node, bool) {
	name := r.PathValue("name")
	if err := api.ValidateNodeName(name); err != nil {
		writeInvalid(w, err)
		return api.Node{}, false
	}
	n, err := s.cfg.Registry.Get(r.Context(), name)
	if errors.Is(err, hiveregistry.ErrNotFound) {
		writeNotFound(w, name)
		return api.Node{}, false
	}
	if err != nil {
		s.internal(w, "get node", err)
		return api.Node{}, false
	}
	return n, true
}

func writeNotFound(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound,
		Message: fmt.Sprintf("node %q not found", name), Hint: "list the registered nodes with `queen setup list-nodes`"})
}

func writeBusy(w http.ResponseWriter, name string) {
	writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeAlreadyExists,
		Message: fmt.Sprintf("node %q is being added or changed by another request right now", name),
		Hint:    "wait for it to finish, then check with `queen setup list-nodes`"})
}

// internal answers 500 for an error inside the queen, or 503 with
// Retry-After for a registry locked by another writer.
func (s *Server) internal(w http.ResponseWriter, op string, err error) {
	if s.writeFenced(w, err) {
		return
	}
	if hiveregistry.IsBusy(err) {
		s.log.Warn(op+": the hive registry is busy", "err", err)
		writeRegistryBusy(w)
		return
	}
	s.log.Error(op, "err", err)
	writeError(w, http.StatusInternalServerError, api.ErrorDetail{Code: api.CodeInternal,
		Message: op + " failed inside the queen", Hint: "see the queen's log"})
}
