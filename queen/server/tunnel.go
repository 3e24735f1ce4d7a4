package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// tunnelDialTimeout bounds opening the worker's end of a tunnel.
const tunnelDialTimeout = 10 * time.Second

// connectWorker is GET /v1/workers/{id}/connect with Upgrade: rbee-tunnel
// (`queen workers forward`): it opens a connection to the worker's port
// the way the queen reaches the node (a channel of the pooled SSH
// connection under the ssh transport), answers 101 and copies bytes both
// ways until either side closes.
func (s *Server) connectWorker(w http.ResponseWriter, r *http.Request) {
	wk, addr, ok := s.tunnelTarget(w, r)
	if !ok {
		return
	}
	dial, err := s.NodeDialer(r.Context(), wk.Node)
	if err != nil {
		s.internal(w, "find the node's dialer", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), tunnelDialTimeout)
	defer cancel()
	up, err := dial(ctx, "tcp", addr)
	if err != nil {
		writeError(w, http.StatusBadGateway, api.ErrorDetail{Code: api.CodeWorkerUnreachable,
			Message: fmt.Sprintf("cannot open a connection to worker %s at %s on %s: %v", wk.ID, addr, wk.Node, err),
			Hint:    fmt.Sprintf("check `queen hive status --node %s` and `queen workers list --node %s`", wk.Node, wk.Node)})
		return
	}
	down, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		s.internal(w, "take over the connection", err)
		return
	}
	_ = down.SetDeadline(time.Time{}) // the server's timeouts end here
	_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + client.TunnelProtocol + "\r\n\r\n")
	if err := buf.Flush(); err != nil {
		up.Close()
		down.Close()
		return
	}
	pipe(up, down, buf.Reader)
}

// tunnelTarget checks the request and returns the worker and the address
// of its port on the node; it answers 4xx itself.
func (s *Server) tunnelTarget(w http.ResponseWriter, r *http.Request) (api.Worker, string, bool) {
	id := r.PathValue("id")
	if err := api.ValidateWorkerID(id); err != nil {
		writeInvalid(w, err)
		return api.Worker{}, "", false
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), client.TunnelProtocol) {
		writeError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidField,
			Message: "this route needs `Connection: Upgrade` and `Upgrade: " + client.TunnelProtocol + "`",
			Hint:    "use `queen workers forward --id " + id + "`, which serves a local port"})
		return api.Worker{}, "", false
	}
	wk, ok := s.workers.Get(id)
	if !ok {
		writeError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound,
			Message: "no worker " + id, Hint: "list the workers with `queen workers list`"})
		return api.Worker{}, "", false
	}
	u, err := url.Parse(wk.URL)
	if err != nil || u.Host == "" {
		writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeWorkerUnreachable,
			Message: "worker " + id + " has no URL yet (state " + wk.State + ")",
			Hint:    "wait until `queen workers list` shows it idle"})
		return api.Worker{}, "", false
	}
	return wk, hostPort(u), true
}

// hostPort is u's host:port, with the scheme's default port.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// pipe copies between the worker's end and the client's until both
// directions end; what the client sent along with its request (buffered)
// goes first.
func pipe(up, down net.Conn, buffered io.Reader) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(up, io.MultiReader(buffered, down))
		closeWrite(up)
	})
	wg.Go(func() {
		_, _ = io.Copy(down, up)
		closeWrite(down)
	})
	wg.Wait()
	up.Close()
	down.Close()
}

// closeWrite half-closes c when it can, else closes it.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	c.Close()
}
