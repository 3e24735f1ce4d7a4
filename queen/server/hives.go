package server

import (
	"errors"
	"fmt"
	"net/http"

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
	writeJSON(w, http.StatusOK, api.HiveList{Nodes: nodes})
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	n, ok := s.lookup(w, r)
	if ok {
		writeJSON(w, http.StatusOK, n)
	}
}

func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := api.ValidateNodeName(name); err != nil {
		writeInvalid(w, err)
		return
	}
	release, ok := s.reserve(name)
	if !ok {
		writeBusy(w, name)
		return
	}
	defer release()
	err := s.cfg.Registry.Remove(r.Context(), name)
	if errors.Is(err, hiveregistry.ErrNotFound) {
		writeNotFound(w, name)
		return
	}
	if err != nil {
		s.internal(w, "remove node", err)
		return
	}
	s.tokens.forget(name)
	if gone := s.workers.RemoveNode(name); gone > 0 {
		s.log.Info("workers of the removed node forgotten", "node", name, "workers", gone)
	}
	s.log.Info("node removed", "node", name)
	writeJSON(w, http.StatusOK, api.RemoveNodeResponse{Removed: name})
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

func (s *Server) internal(w http.ResponseWriter, op string, err error) {
	s.log.Error(op, "err", err)
	writeError(w, http.StatusInternalServerError, api.ErrorDetail{Code: api.CodeInternal,
		Message: op + " failed inside the queen", Hint: "see the queen's log"})
}
