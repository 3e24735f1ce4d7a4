package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// TunnelProtocol is the Upgrade token of GET /v1/workers/{id}/connect: after
// the queen's 101 answer the connection carries raw bytes to and from the
// worker's port.
const TunnelProtocol = "rbee-tunnel"

// ConnectWorker opens a byte stream to worker id's port through the queen
// (GET /v1/workers/{id}/connect with Upgrade: rbee-tunnel): the queen dials
// the worker over the node's pooled SSH connection (transport ssh) or
// directly (http). Closing the returned connection ends the stream. Only
// an http:// queen URL is supported.
func (c *Client) ConnectWorker(ctx context.Context, id string) (net.Conn, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	u, err := url.Parse(c.URL())
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("queen URL %s: a worker tunnel needs an http:// queen URL", c.URL())
	}
	d := net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", hostPort(u))
	if err != nil {
		return nil, &UnreachableError{URL: c.URL(), Err: err}
	}
	tc, err := c.upgrade(ctx, conn, u, id)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// upgrade sends the tunnel request on conn and reads the queen's answer.
func (c *Client) upgrade(ctx context.Context, conn net.Conn, u *url.URL, id string) (net.Conn, error) {
	path := "/v1/workers/" + url.PathEscape(id) + "/connect"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL()+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", TunnelProtocol)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(DefaultTimeout))
	}
	if err := req.Write(conn); err != nil {
		return nil, &UnreachableError{URL: c.URL(), Err: err}
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, &ResponseError{Op: "GET " + path, Err: err}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
		return nil, apiError(resp.StatusCode, raw)
	}
	_ = conn.SetDeadline(time.Time{})
	return &bufferedConn{Conn: conn, r: br}, nil
}

// hostPort is u's host with the default port of http.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// bufferedConn reads what the answer's reader buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads from the buffer, then the connection.
func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
