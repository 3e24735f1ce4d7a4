package server

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// addNode validates SSH to a new node, checks its install path on the node
// (not the SSH user's home), pins its host key and saves it (POST
// /v1/hives). Nothing is saved unless every check passed. Saving forgets
// the hive token of a removed node of the same name.
func (s *Server) addNode(w http.ResponseWriter, r *http.Request) {
	var req api.AddNodeRequest
	if !decode(w, r, &req) {
		return
	}
	portGiven := req.SSHPort // 0 lets ~/.ssh/config choose
	req.Defaults()
	if err := req.Validate(); err != nil {
		writeInvalid(w, err)
		return
	}
	release, ok := s.reserve(req.Name)
	if !ok {
		writeBusy(w, req.Name)
		return
	}
	defer release()
	ctx := r.Context()
	if _, err := s.cfg.Registry.Get(ctx, req.Name); err == nil {
		writeExists(w, req.Name)
		return
	} else if !errors.Is(err, hiveregistry.ErrNotFound) {
		s.internal(w, "look up node", err)
		return
	}

	p := s.newProgress(w, r, req.Name)
	p.beforeEnd = release
	p.node = "" // the node does not exist yet: progress lines read [queen] …
	p.begin()
	n := nodeOf(req)
	t := targetOf(n, req.ConnectTimeoutMS)
	t.port, t.expectFingerprint = portGiven, req.HostKeyFingerprint
	c, installPath, err := s.verify(ctx, t, p)
	if err != nil {
		p.fail(sshFailure(err, req.Name, false))
		return
	}
	pooled := false
	defer func() {
		if !pooled {
			c.Close()
		}
	}()
	ep := c.Endpoint()
	n.SSHPort, n.SSHUser, n.SSHKeyPath = ep.Port, ep.User, ep.KeyPath
	n.InstallPath, n.HostKey = installPath, c.HostKey()
	n.Status, n.LastConnectedUnix = api.StatusReachable, s.cfg.Now().Unix()
	if err := s.cfg.Registry.Add(ctx, n); err != nil {
		s.failSave(p, req.Name, err)
		return
	}
	if err := s.cfg.Registry.ClearRemoved(ctx, req.Name); err != nil {
		s.log.Warn("forget the removed node of this name", "node", req.Name, "err", err)
	}
	saved, err := s.cfg.Registry.Get(ctx, req.Name)
	if err != nil {
		s.failSave(p, req.Name, err)
		return
	}
	s.pool.Put(saved, c) // the next operation on the node rides this connection
	pooled = true
	saved.Connection = s.connection(saved.NodeName)
	p.succeed(http.StatusCreated, fmt.Sprintf("✅ SSH connection successful! Node '%s' saved to registry", req.Name), saved)
}

func nodeOf(req api.AddNodeRequest) api.Node {
	return api.Node{
		NodeName: req.Name, SSHHost: req.SSHHost, SSHPort: req.SSHPort, SSHUser: req.SSHUser,
		SSHKeyPath: req.SSHKeyPath, GitRepoURL: req.GitRepoURL, GitBranch: req.GitBranch,
		InstallPath: req.InstallPath, AgentPort: req.AgentPort, Transport: cmp.Or(req.Transport, api.DefaultTransport),
	}
}

func (s *Server) failSave(p *progress, name string, err error) {
	if errors.Is(err, hiveregistry.ErrExists) {
		p.fail(http.StatusConflict, existsDetail(name))
		return
	}
	if errors.Is(err, api.ErrInvalid) {
		p.fail(http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidField, Message: err.Error(),
			Hint: "the node answered with a value the registry cannot store; fix the node or the flags"})
		return
	}
	if hiveregistry.IsBusy(err) {
		p.fail(http.StatusServiceUnavailable, registryBusyDetail())
		return
	}
	if s.lostLease(err) {
		p.fail(http.StatusServiceUnavailable, fencedDetail(err))
		return
	}
	s.log.Error("save node", "node", name, "err", err)
	p.fail(http.StatusInternalServerError, api.ErrorDetail{Code: api.CodeInternal,
		Message: "save node failed inside the queen", Hint: "see the queen's log"})
}

func writeExists(w http.ResponseWriter, name string) {
	writeError(w, http.StatusConflict, existsDetail(name))
}

func existsDetail(name string) api.ErrorDetail {
	return api.ErrorDetail{Code: api.CodeAlreadyExists,
		Message: fmt.Sprintf("node '%s' already exists in registry", name),
		Hint: fmt.Sprintf("change it with `queen setup update-node --name %s …` or remove it first with "+
			"`queen setup remove-node --name %s`", name, name)}
}
