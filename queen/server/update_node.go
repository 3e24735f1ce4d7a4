package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// updateNode changes fields of a node (PATCH /v1/hives/{name}). When the
// change touches how the queen reaches the node, SSH is validated again
// (against the pinned host key, unless reset_host_key) before anything is
// saved.
func (s *Server) updateNode(w http.ResponseWriter, r *http.Request) {
	var req api.UpdateNodeRequest
	if !decode(w, r, &req) {
		return
	}
	name := r.PathValue("name")
	if err := errors.Join(api.ValidateNodeName(name), req.Validate()); err != nil {
		writeInvalid(w, err)
		return
	}
	release, ok := s.reserve(name)
	if !ok {
		writeBusy(w, name)
		return
	}
	defer release()
	current, ok := s.lookup(w, r)
	if !ok {
		return
	}
	p := s.newProgress(w, r, name)
	p.beforeEnd = release
	p.begin()
	changed := current
	req.ApplyTo(&changed)
	verified, err := s.reverify(r, req, changed, p)
	if err != nil {
		p.fail(sshFailure(err, name, current.HostKey != "" && !req.ResetHostKey))
		return
	}
	saved, err := s.cfg.Registry.Update(r.Context(), name, func(n *api.Node) error {
		req.ApplyTo(n)
		if verified != nil {
			n.SSHPort, n.SSHUser, n.SSHKeyPath = verified.SSHPort, verified.SSHUser, verified.SSHKeyPath
			n.InstallPath, n.HostKey = verified.InstallPath, verified.HostKey
			n.Status, n.LastConnectedUnix = api.StatusReachable, verified.LastConnectedUnix
		}
		return nil
	})
	if errors.Is(err, hiveregistry.ErrNotFound) {
		p.fail(http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: fmt.Sprintf("node %q was removed meanwhile", name)})
		return
	}
	if err != nil {
		s.failSave(p, name, err)
		return
	}
	p.succeed(http.StatusOK, fmt.Sprintf("✅ Node '%s' updated", name), saved)
}

// reverify connects to the changed node when the update needs it (a
// connection field or the install path changes: '~' is resolved and the
// path checked against the home on the node) and returns what the
// connection established; nil, nil when no connection was needed.
func (s *Server) reverify(r *http.Request, req api.UpdateNodeRequest, changed api.Node, p *progress) (*api.Node, error) {
	if !req.ChangesConnection() && req.InstallPath == nil {
		return nil, nil
	}
	t := targetOf(changed, req.ConnectTimeoutMS)
	if req.HostKeyFingerprint != nil {
		t.expectFingerprint = *req.HostKeyFingerprint
	}
	c, installPath, err := s.verify(r.Context(), t, p)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ep := c.Endpoint()
	v := changed
	v.SSHPort, v.SSHUser, v.SSHKeyPath = ep.Port, ep.User, ep.KeyPath
	v.InstallPath, v.HostKey, v.LastConnectedUnix = installPath, c.HostKey(), s.cfg.Now().Unix()
	return &v, nil
}
