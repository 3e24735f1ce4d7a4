package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/version"
)

// Limits of the client.
const (
	// DefaultTimeout bounds a plain (not streamed) request from dial to the
	// end of the body.
	DefaultTimeout = 30 * time.Second
	// DialTimeout bounds the TCP connect to the queen.
	DialTimeout = 5 * time.Second
	// MaxBodyBytes is the largest answer body, and the longest stream line,
	// the client reads.
	MaxBodyBytes = 1 << 20
)

// Client talks to one queen. It is safe for concurrent use.
type Client struct {
	urls       []string                // the queens given to New, in order
	current    *atomic.Pointer[string] // the queen that answered as active last; shared by copies
	baseErr    error
	token      string
	plain      *http.Client // bounded by timeout
	stream     *http.Client // bounded only by the caller's context
	streamCopy io.Writer
}

// Option configures a [Client].
type Option func(*Client)

// WithTimeout replaces [DefaultTimeout] for plain requests. Streams are never
// bounded by it.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.plain.Timeout = d }
}

// WithStreamCopy makes the client write every line of a streamed answer to
// w, byte for byte with its newline, before it decodes the line; the CLI's
// --json mode passes the queen's NDJSON through this way.
func WithStreamCopy(w io.Writer) Option {
	return func(c *Client) { c.streamCopy = w }
}

// New returns a client of the queen at baseURL (e.g. http://127.0.0.1:7833)
// that sends token as the bearer token. A malformed baseURL is reported by
// the first request. baseURL may list the queens of an HA pair separated by
// commas: a request goes to the one that answered as active last, and on a
// dial failure or a 503 STANDBY moves on (README: High availability).
func New(baseURL, token string, opts ...Option) *Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	transport.TLSHandshakeTimeout = 10 * time.Second
	c := &Client{
		urls:    splitURLs(baseURL),
		current: new(atomic.Pointer[string]),
		token:   token,
		plain:   &http.Client{Transport: transport, Timeout: DefaultTimeout},
		stream:  &http.Client{Transport: transport},
	}
	c.current.Store(&c.urls[0])
	for _, u := range c.urls {
		if c.baseErr == nil {
			c.baseErr = checkBaseURL(u)
		}
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// URL returns the queen's base URL as given to [New], without a trailing
// slash; of several, the one that answered as active last.
func (c *Client) URL() string { return *c.current.Load() }

// Health returns the queen's health (GET /v1/health).
func (c *Client) Health(ctx context.Context) (api.Health, error) {
	var h api.Health
	err := c.Do(ctx, http.MethodGet, "/v1/health", nil, &h)
	return h, err
}

// ListNodes returns every registered node (GET /v1/hives).
func (c *Client) ListNodes(ctx context.Context) (api.HiveList, error) {
	var l api.HiveList
	err := c.Do(ctx, http.MethodGet, "/v1/hives", nil, &l)
	return l, err
}

// GetNode returns one node (GET /v1/hives/{name}); an unknown node is an
// error for which [IsNotFound] is true.
func (c *Client) GetNode(ctx context.Context, name string) (api.Node, error) {
	var n api.Node
	err := c.Do(ctx, http.MethodGet, nodePath(name), nil, &n)
	return n, err
}

// RemoveNode drops a node from the registry (DELETE /v1/hives/{name}). The
// queen refuses a node whose agent still heartbeats with 409 AGENT_RUNNING
// unless force is set; then the agent keeps running and the answer's
// Warning says so.
func (c *Client) RemoveNode(ctx context.Context, name string, force bool) (api.RemoveNodeResponse, error) {
	var r api.RemoveNodeResponse
	path := nodePath(name)
	if force {
		path += "?force=true"
	}
	err := c.Do(ctx, http.MethodDelete, path, nil, &r)
	return r, err
}

// AddNode asks the queen to validate SSH to a new node and save it
// (POST /v1/hives), calling onEvent (if not nil) for every progress event,
// the last one included, and returns the saved node.
func (c *Client) AddNode(ctx context.Context, req api.AddNodeRequest, onEvent func(api.Event)) (api.Node, error) {
	var n api.Node
	err := c.streamInto(ctx, http.MethodPost, "/v1/hives", req, onEvent, &n)
	return n, err
}

// UpdateNode changes the set fields of a node, re-validating SSH when
// connection fields change (PATCH /v1/hives/{name}), and returns the updated
// node. onEvent is as for [Client.AddNode].
func (c *Client) UpdateNode(ctx context.Context, name string, req api.UpdateNodeRequest, onEvent func(api.Event)) (api.Node, error) {
	var n api.Node
	err := c.streamInto(ctx, http.MethodPatch, nodePath(name), req, onEvent, &n)
	return n, err
}

// Preflight checks a node over SSH (POST /v1/hives/{name}/preflight) and
// returns the queen's report. onEvent is as for [Client.AddNode].
func (c *Client) Preflight(ctx context.Context, name string, onEvent func(api.Event)) (api.PreflightReport, error) {
	var r api.PreflightReport
	err := c.streamInto(ctx, http.MethodPost, nodePath(name)+"/preflight", nil, onEvent, &r)
	return r, err
}

// Do sends one plain request with body (nil for none) encoded as JSON and
// decodes a 2xx answer into out (nil to discard it). Error answers become
// [*APIError].
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	op := method + " " + path
	resp, err := c.send(ctx, c.plain, method, path, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := readBody(op, resp)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp.StatusCode, raw)
	}
	return decodeResult(op, raw, out)
}

// Stream sends a request for a streamed operation (Accept:
// application/x-ndjson), calls onEvent (if not nil) for every event, the
// last one included, and returns the raw result of the last event. An error
// on the last event, or a JSON error answer before the stream starts,
// becomes an [*APIError]. A 2xx answer in plain JSON is taken as the result.
func (c *Client) Stream(ctx context.Context, method, path string, body any, onEvent func(api.Event)) (json.RawMessage, error) {
	op := method + " " + path
	resp, err := c.send(ctx, c.stream, method, path, body, api.ContentTypeNDJSON)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, err := readBody(op, resp)
		if err != nil {
			return nil, err
		}
		return nil, apiError(resp.StatusCode, raw)
	}
	if mediaType(resp) != api.ContentTypeNDJSON {
		return readBody(op, resp)
	}
	return c.readEvents(ctx, op, resp, onEvent)
}

// streamInto runs [Client.Stream] and decodes the result into out.
func (c *Client) streamInto(ctx context.Context, method, path string, body any, onEvent func(api.Event), out any) error {
	raw, err := c.Stream(ctx, method, path, body, onEvent)
	if err != nil {
		return err
	}
	return decodeResult(method+" "+path, raw, out)
}

// sendTo builds and sends a request to the queen at base. A dial failure
// becomes an [*UnreachableError].
func (c *Client) sendTo(ctx context.Context, hc *http.Client, base, method, path string, body []byte, accept string) (*http.Response, error) {
	op := method + " " + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", op, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "queen-cli/"+version.String())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil && isDialError(err) {
			return nil, &UnreachableError{URL: base, Err: err}
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return resp, nil
}

// checkBaseURL checks the queen's base URL.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
		err = errors.New("want http://HOST:PORT or https://HOST:PORT")
	}
	if err != nil {
		return fmt.Errorf("invalid queen URL %q: %w; pass --queen-url like http://127.0.0.1:7833", s, err)
	}
	return nil
}

// nodePath returns the path of one node's resource.
func nodePath(name string) string {
	return "/v1/hives/" + url.PathEscape(name)
}

// readBody reads a whole answer body of at most [MaxBodyBytes].
func readBody(op string, resp *http.Response) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read answer: %w", op, err)
	}
	if len(raw) > MaxBodyBytes {
		return nil, &ResponseError{Op: op, Err: fmt.Errorf("body over %d bytes", MaxBodyBytes)}
	}
	return raw, nil
}

// decodeResult decodes a 2xx body into out.
func decodeResult(op string, raw []byte, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &ResponseError{Op: op, Err: fmt.Errorf("decode body: %w", err)}
	}
	return nil
}

// apiError turns an error answer into an [*APIError]; a body that is not
// the documented error JSON keeps only the status.
func apiError(status int, raw []byte) error {
	var body api.ErrorBody
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Code == "" {
		body = api.ErrorBody{Error: api.ErrorDetail{
			Hint: "the answer is not a queen's error; check that --queen-url points at a queen daemon"}}
	}
	return &APIError{Status: status, Detail: body.Error}
}

// mediaType returns the answer's media type without parameters.
func mediaType(resp *http.Response) string {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}
