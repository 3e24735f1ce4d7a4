package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rbee-fleet/rbee/shared/httpserver"
)

// maxRequestBody bounds a request body.
const maxRequestBody = 8 << 20

// maxTries bounds the workers one request is sent to when they cannot be
// reached.
const maxTries = 8

// requestHead is what the gateway reads of a request body.
type requestHead struct {
	Model  string `json:"model"`
	Stream bool   `json:"stream"`
}

// infer is POST /v1/completions and POST /v1/chat/completions.
func (g *Gateway) infer(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.authenticate(w, r); !ok {
		return
	}
	body, head, aerr := readRequest(w, r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	rec := httpserver.NewRecorder(w)
	defer g.observe(head.Model, time.Now(), rec)
	g.serve(rec, r, body, head)
}

// serve routes one read request to a worker and relays its answer.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, body []byte, head requestHead) {
	// Answers may stream for longer than the server's read timeout.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	for range maxTries {
		up, aerr := g.acquire(r.Context(), head.Model)
		if aerr != nil {
			aerr.write(w)
			return
		}
		sent := g.forward(w, r, up, body, head.Stream)
		g.table.release(up, time.Now())
		if sent {
			return
		}
	}
	(&apiError{status: http.StatusBadGateway, typ: typeServer, code: codeWorkerUnreached,
		msg: fmt.Sprintf("no worker of %s could be reached after %d tries", head.Model, maxTries)}).write(w)
}

// readRequest reads the body and its model and stream fields.
func readRequest(w http.ResponseWriter, r *http.Request) ([]byte, requestHead, *apiError) {
	var head requestHead
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, head, &apiError{status: http.StatusRequestEntityTooLarge, typ: typeInvalidRequest, code: codeBodyTooLarge,
			msg: fmt.Sprintf("body is over the %d-byte limit", maxRequestBody)}
	}
	if err != nil {
		return nil, head, &apiError{status: http.StatusBadRequest, typ: typeInvalidRequest, code: codeInvalidJSON,
			msg: "read body: " + err.Error()}
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, head, &apiError{status: http.StatusBadRequest, typ: typeInvalidRequest, code: codeInvalidJSON,
			msg: "body is not a JSON request with a string model and a boolean stream: " + err.Error()}
	}
	if head.Model == "" {
		return nil, head, &apiError{status: http.StatusBadRequest, typ: typeInvalidRequest, code: codeModelRequired,
			msg: "model is required; GET /v1/models lists the models"}
	}
	return body, head, nil
}

// hopHeaders are not passed on, in either direction, with Authorization
// (the client's key is for the gateway only) and Content-Length (set
// again: the request's by its body, the answer's from the worker's when it
// gave one).
var hopHeaders = map[string]bool{
	"Authorization": true, "Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true,
	"Upgrade": true, "Content-Length": true, "Host": true,
}

func copyHeaders(dst, src http.Header) {
	for k, vs := range src {
		if !hopHeaders[k] {
			dst[k] = vs
		}
	}
}

// forward sends the request to up and relays the answer. It returns false
// when nothing was sent to the worker (it could not be reached): the
// caller tries another one. Every other outcome is answered here.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, up *upstream, body []byte, stream bool) (sent bool) {
	var wrote atomic.Bool // set by the transport's goroutine
	ctx := httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	node, url := g.table.addr(up)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		g.table.markDown(up, time.Now())
		return false
	}
	copyHeaders(req.Header, r.Header)
	if id := httpserver.RequestID(r.Context()); id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	resp, err := g.transport(node).RoundTrip(req)
	if err != nil {
		return g.failedBeforeAnswer(w, r, up, err, wrote.Load())
	}
	defer resp.Body.Close()
	copyHeaders(w.Header(), resp.Header)
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.Header().Set("X-Rbee-Worker", up.id)
	w.WriteHeader(resp.StatusCode)
	g.relay(w, r, up, resp, stream)
	return true
}

// failedBeforeAnswer handles a request that got no answer: unsent, it is
// retried elsewhere; sent, the client gets 502 with the worker's id.
func (g *Gateway) failedBeforeAnswer(w http.ResponseWriter, r *http.Request, up *upstream, err error, wrote bool) bool {
	if r.Context().Err() != nil {
		return true // the client left; nobody reads an answer
	}
	g.table.markDown(up, time.Now())
	if !wrote {
		g.log.WarnContext(r.Context(), "worker unreachable; trying another", "worker", up.id, "node", g.table.nodeOf(up), "err", err)
		return false
	}
	g.log.WarnContext(r.Context(), "worker failed before answering", "worker", up.id, "node", g.table.nodeOf(up), "err", err)
	(&apiError{status: http.StatusBadGateway, typ: typeServer, code: codeWorkerFailed,
		msg: fmt.Sprintf("worker %s on %s failed before answering: %v", up.id, g.table.nodeOf(up), err)}).write(w)
	return true
}

// bufPool holds relay buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relay copies the answer body as it arrives. An answer of unknown length
// (a stream of server-sent events) is flushed at every read, so each
// event goes on as it came; the read that brings the end is not, so its
// bytes leave with the end of the answer in one write. An answer of known
// length keeps it and goes out as the ResponseWriter buffers it. A worker
// that fails mid-answer is taken out of routing; a stream gets an error
// event, any other answer is cut off (see cutShort).
func (g *Gateway) relay(w http.ResponseWriter, r *http.Request, up *upstream, resp *http.Response, stream bool) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	flush := resp.ContentLength < 0
	rc := http.NewResponseController(w)
	for {
		n, err := resp.Body.Read(*bp)
		if n > 0 {
			if _, werr := w.Write((*bp)[:n]); werr != nil {
				return // the client left; its context cancels the worker's request
			}
			if flush && err == nil {
				_ = rc.Flush()
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			g.cutShort(w, r, up, err, stream && flush) // an event fits only a stream of unknown length
			return
		}
	}
}

// cutShort ends an answer the worker broke off: a stream with an error
// event, any other answer (one of known length included, where an event
// would pass for part of the body) by cutting the connection.
func (g *Gateway) cutShort(w http.ResponseWriter, r *http.Request, up *upstream, err error, stream bool) {
	if r.Context().Err() != nil {
		return
	}
	g.table.markDown(up, time.Now())
	g.log.WarnContext(r.Context(), "worker failed mid-answer", "worker", up.id, "node", g.table.nodeOf(up), "err", err)
	if !stream {
		panic(http.ErrAbortHandler) // the client sees a cut connection, not a short body
	}
	_, _ = w.Write(errorEvent(&apiError{typ: typeServer, code: codeWorkerFailed,
		msg: fmt.Sprintf("worker %s on %s failed mid-answer: %v", up.id, g.table.nodeOf(up), err)}))
	_ = http.NewResponseController(w).Flush()
}

// transport returns node's HTTP transport: its own connection pool, dialled
// through Settings.DialContext.
func (g *Gateway) transport(node string) *http.Transport {
	g.tmu.RLock()
	t := g.transports[node]
	g.tmu.RUnlock()
	if t != nil {
		return t
	}
	g.tmu.Lock()
	defer g.tmu.Unlock()
	if t = g.transports[node]; t == nil {
		t = &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return g.dial(ctx, node, network, addr)
			},
			MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
			DisableCompression: true,
		}
		g.transports[node] = t
	}
	return t
}

// plainDialer dials workers when Settings.DialContext is nil.
var plainDialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

func (g *Gateway) dial(ctx context.Context, node, network, addr string) (net.Conn, error) {
	if g.cfg.DialContext != nil {
		return g.cfg.DialContext(ctx, node, network, addr)
	}
	return plainDialer.DialContext(ctx, network, addr)
}
