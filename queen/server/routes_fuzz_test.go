package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/httpjson"
)

// Fuzz targets for every route of the queen that decodes a body, a query
// or a path value (issue 10). Each input goes through the real handler
// (server.New on a real hiveregistry in a temp SQLite file) and the answer
// must hold for any input: no panic, no 5xx (but the documented ones
// below), an error body that is well-formed JSON, and no echo of the
// payload in it (see checkFuzzReply).
//
// No input leaves the machine: the fixture nodes point SSH at a closed
// loopback port and the online node's agent URL at one too, and a body
// that would pass validation has its SSH host, port and key path replaced
// by those (confineAddNode, confineUpdateNode) before it is sent. The 5xx
// these fixtures cause on purpose are the honest answer for an unreachable
// node or agent, whatever the input:
//   - 502 SSH_CONNECT_FAILED from add-node, update-node, preflight,
//     uninstall, start and stop;
//   - 502 AGENT_UNREACHABLE from workers spawn and stop.

// fuzzMarker is planted in string fields of the seeds. '~' keeps it out of
// every identifier (node name, worker id, backend), so a validated value
// never carries it.
const fuzzMarker = "ZQX~q7Jf2"

// maxFuzzShown is api.FieldError's bound on the excerpt of a rejected value
// that an error message may quote.
const maxFuzzShown = 64

const fuzzAdminToken = "fuzz-admin-token-0123456789abcdef"

// fuzzQueen is a queen with two nodes: gpu-1 online (its agent URL a closed
// port) and gpu-2 installed, both with SSH on a closed loopback port.
type fuzzQueen struct {
	h          http.Handler
	reg        *hiveregistry.Registry
	closedPort int
	hiveToken  string // gpu-1's
	tokens     []string
}

func newFuzzQueen(f *testing.F) *fuzzQueen {
	f.Helper()
	f.Setenv("HOME", f.TempDir()) // no ~/.ssh/config alias, no key, leads anywhere
	f.Setenv("SSH_AUTH_SOCK", "")
	reg, err := hiveregistry.Open(f.Context(), filepath.Join(f.TempDir(), "beehives.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { reg.Close() })
	q := &fuzzQueen{reg: reg, closedPort: closedLoopbackPort(f)}
	q.hiveToken, _ = install.MintToken()
	other, _ := install.MintToken()
	q.tokens = []string{fuzzAdminToken, q.hiveToken, other}
	for _, n := range q.fixtures() {
		if err := reg.Add(f.Context(), n); err != nil {
			f.Fatal(err)
		}
	}
	for i, name := range []string{"gpu-1", "gpu-2"} {
		agentToken, _ := install.MintToken()
		q.tokens = append(q.tokens, agentToken)
		if err := reg.SetTokens(f.Context(), name, install.HashToken(q.tokens[1+i]), agentToken); err != nil {
			f.Fatal(err)
		}
	}
	srv := server.New(server.Config{Registry: reg, Token: fuzzAdminToken, Logger: slog.New(slog.DiscardHandler),
		Retry: provision.RetryPolicy{Attempts: 1}, QueenURL: "http://127.0.0.1:7833"})
	q.h = srv.Handler()
	return q
}

func (q *fuzzQueen) fixtures() []api.Node {
	node := func(name, status, agentURL string) api.Node {
		return api.Node{NodeName: name, SSHHost: "127.0.0.1", SSHPort: q.closedPort, SSHUser: "rbee",
			GitRepoURL: "https://github.com/rbee-fleet/rbee.git", GitBranch: "main", InstallPath: "/opt/rbee",
			AgentPort: 7835, Status: status, AgentURL: agentURL, Transport: api.TransportHTTP}
	}
	return []api.Node{
		node("gpu-1", api.StatusOnline, "http://127.0.0.1:"+strconv.Itoa(q.closedPort)),
		node("gpu-2", api.StatusInstalled, ""),
	}
}

// reset puts the fixture nodes back the way an input may have changed them
// (removed, re-pointed, stopped), so every input meets the same fleet.
func (q *fuzzQueen) reset(t *testing.T) {
	t.Helper()
	for i, want := range q.fixtures() {
		got, err := q.reg.Get(t.Context(), want.NodeName)
		if errors.Is(err, hiveregistry.ErrNotFound) {
			if err := q.reg.Add(t.Context(), want); err != nil {
				t.Fatal(err)
			}
			if err := q.reg.SetTokens(t.Context(), want.NodeName, install.HashToken(q.tokens[1+i]), q.tokens[3+i]); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got.SSHHost != want.SSHHost || got.SSHPort != want.SSHPort || got.SSHKeyPath != "" ||
			got.Status != want.Status || got.AgentURL != want.AgentURL || got.InstallPath != want.InstallPath {
			if _, err := q.reg.Update(t.Context(), want.NodeName, func(n *api.Node) error {
				n.SSHHost, n.SSHPort, n.SSHKeyPath, n.InstallPath = want.SSHHost, want.SSHPort, "", want.InstallPath
				n.Status, n.AgentURL = want.Status, want.AgentURL
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// serve sends one request through the handler. escaped is the path as sent
// on the wire (segments already escaped), query the raw query.
func (q *fuzzQueen) serve(method, escaped, query, auth string, body []byte) *httptest.ResponseRecorder {
	return serveFuzz(q.h, method, escaped, query, auth, body)
}

func serveFuzz(h http.Handler, method, escaped, query, auth string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	if p, err := url.PathUnescape(escaped); err == nil {
		req.URL.Path, req.URL.RawPath = p, escaped
	}
	req.URL.RawQuery = query
	req.RequestURI = req.URL.RequestURI()
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// allow5xx names the 5xx answers a route may give for a reason that is not
// the input (status and error code).
type allow5xx map[int]string

// FuzzQueenAddNode covers POST /v1/hives.
func FuzzQueenAddNode(f *testing.F) {
	q := newFuzzQueen(f)
	f.Add([]byte(`{"name":"gpu-9","ssh_host":"10.0.0.7","git_repo_url":"https://github.com/rbee-fleet/rbee.git","install_path":"~/rbee"}`))
	f.Add([]byte(`{"name":"gpu-1","ssh_host":"h","git_repo_url":"https://h/r","install_path":"/opt/rbee"}`))
	f.Add([]byte(`{"name":"` + fuzzMarker + `","ssh_host":"-o` + fuzzMarker + `","ssh_user":"` + fuzzMarker + `","git_repo_url":"ext::` + fuzzMarker + `","install_path":"` + fuzzMarker + `\n","git_branch":"` + fuzzMarker + `\u202e"}`))
	f.Add([]byte(`{"name":"x","ssh_host":"` + strings.Repeat("h", 70) + fuzzMarker + `","git_repo_url":"https://h/r","install_path":"/r","` + fuzzMarker + `":1}`))
	f.Add([]byte(`{"name":"x","ssh_port":"` + fuzzMarker + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		q.reset(t)
		body = q.confineAddNode(body)
		rec := q.serve(http.MethodPost, "/v1/hives", "", fuzzAdminToken, body)
		checkFuzzReply(t, rec, q.tokens, allow5xx{http.StatusBadGateway: api.CodeSSHConnectFailed}, body)
	})
}

// confineAddNode returns body, or, when the queen would take it and
// connect, the same request aimed at the closed loopback port.
func (q *fuzzQueen) confineAddNode(body []byte) []byte {
	var req api.AddNodeRequest
	if !decodes(body, &req) {
		return body
	}
	check := req
	check.Defaults()
	if check.Validate() != nil {
		return body
	}
	req.SSHHost, req.SSHPort, req.SSHKeyPath = "127.0.0.1", q.closedPort, ""
	out, _ := json.Marshal(req)
	return out
}

// FuzzQueenUpdateNode covers PATCH /v1/hives/{name}: the path value and
// the body.
func FuzzQueenUpdateNode(f *testing.F) {
	q := newFuzzQueen(f)
	f.Add("gpu-1", []byte(`{"git_branch":"dev"}`))
	f.Add("gpu-2", []byte(`{"ssh_host":"gpu-2","ssh_port":2222,"ssh_user":"","ssh_key_path":"","reset_host_key":true}`))
	f.Add("gpu-1", []byte(`{"install_path":"~/../`+fuzzMarker+`","agent_port":0,"git_repo_url":"--upload-pack=`+fuzzMarker+`"}`))
	f.Add(fuzzMarker+"/../x", []byte(`{}`))
	f.Add("gpu-1", []byte(`{"ssh_port":"`+fuzzMarker+`","`+fuzzMarker+strings.Repeat("k", 80)+`":true}`))
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		q.reset(t)
		body = q.confineUpdateNode(name, body)
		rec := q.serve(http.MethodPatch, "/v1/hives/"+url.PathEscape(name), "", fuzzAdminToken, body)
		checkFuzzReply(t, rec, q.tokens, allow5xx{http.StatusBadGateway: api.CodeSSHConnectFailed}, body, name)
	})
}

func (q *fuzzQueen) confineUpdateNode(name string, body []byte) []byte {
	var req api.UpdateNodeRequest
	if !decodes(body, &req) || api.ValidateNodeName(name) != nil || req.Validate() != nil {
		return body
	}
	host, port, key := "127.0.0.1", q.closedPort, ""
	if req.SSHHost != nil {
		req.SSHHost = &host
	}
	if req.SSHPort != nil {
		req.SSHPort = &port
	}
	if req.SSHKeyPath != nil {
		req.SSHKeyPath = &key
	}
	out, _ := json.Marshal(req)
	return out
}

// FuzzQueenInstall covers POST /v1/install, POST /v1/hives/{name}/install
// and POST /v1/hives/{name}/uninstall: body and path value.
func FuzzQueenInstall(f *testing.F) {
	q := newFuzzQueen(f)
	f.Add(uint8(0), "", []byte(`{"nodes":["gpu-1"],"method":"upload","parallel":2}`))
	f.Add(uint8(0), "", []byte(`{"all":true}`))
	f.Add(uint8(0), "", []byte(`{"nodes":["`+fuzzMarker+strings.Repeat("n", 80)+`"],"method":"`+fuzzMarker+strings.Repeat("m", 80)+`"}`))
	f.Add(uint8(0), "", []byte(`{"nodes":["gpu-2","`+fuzzMarker+strings.Repeat("n", 80)+`"],"method":"auto"}`))
	f.Add(uint8(1), "gpu-2", []byte(`{"method":"build"}`))
	f.Add(uint8(1), fuzzMarker, []byte(nil))
	f.Add(uint8(2), "gpu-1", []byte(`{"keep_source":true}`))
	f.Add(uint8(2), "gpu-9", []byte(`{"keep_source":"`+fuzzMarker+`"}`))
	f.Fuzz(func(t *testing.T, route uint8, name string, body []byte) {
		q.reset(t)
		path := "/v1/install"
		switch route % 3 {
		case 1:
			path = "/v1/hives/" + url.PathEscape(name) + "/install"
		case 2:
			path = "/v1/hives/" + url.PathEscape(name) + "/uninstall"
		}
		rec := q.serve(http.MethodPost, path, "", fuzzAdminToken, body)
		checkFuzzReply(t, rec, q.tokens, allow5xx{http.StatusBadGateway: api.CodeSSHConnectFailed}, body, name)
	})
}

// FuzzQueenHiveRoutes covers the {name} routes without a body: GET and
// DELETE (with its force query) /v1/hives/{name}, and POST preflight,
// start, stop and GET status.
func FuzzQueenHiveRoutes(f *testing.F) {
	q := newFuzzQueen(f)
	f.Add(uint8(0), "gpu-1", "")
	f.Add(uint8(1), "gpu-2", "force=true")
	f.Add(uint8(1), "gpu-1", "force="+fuzzMarker+strings.Repeat("f", 80))
	f.Add(uint8(1), "gpu-1", "force=%zz&force=1;x")
	f.Add(uint8(2), "gpu-1", "")
	f.Add(uint8(3), fuzzMarker+strings.Repeat("n", 80), "")
	f.Add(uint8(5), "GPU-1\x00\n", "")
	f.Fuzz(func(t *testing.T, route uint8, name, query string) {
		q.reset(t)
		base := "/v1/hives/" + url.PathEscape(name)
		method, path := http.MethodGet, base
		switch route % 6 {
		case 1:
			method = http.MethodDelete
		case 2:
			method, path = http.MethodPost, base+"/preflight"
		case 3:
			method, path = http.MethodPost, base+"/start"
		case 4:
			method, path = http.MethodPost, base+"/stop"
		case 5:
			path = base + "/status"
		}
		rec := q.serve(method, path, query, fuzzAdminToken, nil)
		checkFuzzReply(t, rec, q.tokens, allow5xx{http.StatusBadGateway: api.CodeSSHConnectFailed}, nil, name, query)
	})
}

// FuzzQueenHeartbeat covers POST /v1/hives/{name}/heartbeat with gpu-1's
// hive token: path value and body.
func FuzzQueenHeartbeat(f *testing.F) {
	q := newFuzzQueen(f)
	w, _ := json.Marshal(api.HeartbeatRequest{PID: 4242, Workers: []api.Worker{fuzzWorker("w-1")}})
	f.Add("gpu-1", w)
	f.Add("gpu-1", []byte(`{"pid":1,"workers":[]}`))
	f.Add("gpu-2", []byte(`{"pid":1}`))
	f.Add("gpu-1", []byte(`{"pid":1,"workers":[{"worker_id":"w-2","node_name":"`+fuzzMarker+`","state":"idle"}]}`))
	f.Add("gpu-1", []byte(`{"pid":1,"workers":[{"worker_id":"`+fuzzMarker+`","url":"http://`+fuzzMarker+`"}]}`))
	f.Add(fuzzMarker, []byte(`{"pid":"`+fuzzMarker+`"}`))
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		q.reset(t)
		rec := q.serve(http.MethodPost, "/v1/hives/"+url.PathEscape(name)+"/heartbeat", "", q.hiveToken, body)
		checkFuzzReply(t, rec, q.tokens, nil, body, name)
	})
}

// FuzzQueenWorkerBodies covers POST /v1/workers/register and update (with
// gpu-1's hive token) and POST /v1/workers/spawn (admin token).
func FuzzQueenWorkerBodies(f *testing.F) {
	q := newFuzzQueen(f)
	reg, _ := json.Marshal(fuzzWorker("w-1"))
	f.Add(uint8(0), reg)
	f.Add(uint8(0), []byte(`{"worker_id":"-`+fuzzMarker+`","node_name":"gpu-2","url":"https://`+fuzzMarker+`","model_ref":"a b","backend":"`+fuzzMarker+`","state":"`+fuzzMarker+`"}`))
	f.Add(uint8(1), []byte(`{"worker_id":"w-1","state":"busy","slots_available":0}`))
	f.Add(uint8(1), []byte(`{"worker_id":"w-1","state":"idle","slots_total":-1,"vram_bytes":-5,"url":"`+fuzzMarker+`"}`))
	f.Add(uint8(2), []byte(`{"node":"gpu-1","model_ref":"hf:TheBloke/TinyLlama-GGUF","backend":"cuda","device":1}`))
	f.Add(uint8(2), []byte(`{"node":"gpu-2","model_ref":"/models/`+fuzzMarker+`","ready_timeout_ms":-1}`))
	f.Add(uint8(2), []byte(`{"node":"`+fuzzMarker+`","model_ref":"`+strings.Repeat("m", 300)+fuzzMarker+`","device":99999999999}`))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		q.reset(t)
		var rec *httptest.ResponseRecorder
		var allow allow5xx
		switch route % 3 {
		case 0:
			rec = q.serve(http.MethodPost, "/v1/workers/register", "", q.hiveToken, body)
		case 1:
			rec = q.serve(http.MethodPost, "/v1/workers/update", "", q.hiveToken, body)
		case 2:
			rec = q.serve(http.MethodPost, "/v1/workers/spawn", "", fuzzAdminToken, body)
			allow = allow5xx{http.StatusBadGateway: api.CodeAgentUnreachable}
		}
		checkFuzzReply(t, rec, q.tokens, allow, body)
	})
}

// FuzzQueenWorkerPaths covers DELETE /v1/workers/{id} (hive token), POST
// /v1/workers/{id}/stop (admin token) and the query of GET
// /v1/workers/list. Worker w-1 of gpu-1 is registered, so a stop of it
// reaches the (unreachable) agent.
func FuzzQueenWorkerPaths(f *testing.F) {
	q := newFuzzQueen(f)
	f.Add(uint8(0), "w-1")
	f.Add(uint8(0), "-"+fuzzMarker)
	f.Add(uint8(1), "w-1")
	f.Add(uint8(1), fuzzMarker+strings.Repeat("i", 80))
	f.Add(uint8(2), "node=gpu-1&model=hf:x&capability=cuda:0&state=idle")
	f.Add(uint8(2), "capability="+fuzzMarker+"&state="+fuzzMarker+strings.Repeat("s", 80)+"&node=%ff")
	f.Add(uint8(2), "model=%00;&&=&node=GPU")
	f.Fuzz(func(t *testing.T, route uint8, value string) {
		q.reset(t)
		registered, _ := json.Marshal(fuzzWorker("w-1"))
		if rec := q.serve(http.MethodPost, "/v1/workers/register", "", q.hiveToken, registered); rec.Code/100 != 2 {
			t.Fatalf("register the fixture worker: %d %s", rec.Code, rec.Body)
		}
		var rec *httptest.ResponseRecorder
		var allow allow5xx
		switch route % 3 {
		case 0:
			rec = q.serve(http.MethodDelete, "/v1/workers/"+url.PathEscape(value), "", q.hiveToken, nil)
		case 1:
			rec = q.serve(http.MethodPost, "/v1/workers/"+url.PathEscape(value)+"/stop", "", fuzzAdminToken, nil)
			allow = allow5xx{http.StatusBadGateway: api.CodeAgentUnreachable}
		case 2:
			rec = q.serve(http.MethodGet, "/v1/workers/list", value, fuzzAdminToken, nil)
		}
		checkFuzzReply(t, rec, q.tokens, allow, nil, value)
	})
}

func fuzzWorker(id string) api.Worker {
	return api.Worker{ID: id, URL: "http://127.0.0.1:8081", ModelRef: "hf:TheBloke/TinyLlama-GGUF", Backend: api.BackendCPU,
		State: api.WorkerIdle, SlotsTotal: 4, SlotsAvailable: 4, PID: 4242, StartedUnix: 1_760_000_000}
}

// decodes reports whether body decodes the way the routes decode it.
func decodes(body []byte, v any) bool {
	return httpjson.Decode(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)), v)
}

func closedLoopbackPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

var errorCodeRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// checkFuzzReply asserts what every answer to any input must hold: status
// below 500 but for allow; an error answer is one JSON api.ErrorBody with a
// code and a message; no answer shows a token; and an error answer echoes
// neither fuzzMarker nor any string of the payload (body strings and
// keys, and the raw path and query values) longer than maxFuzzShown,
// except inside a quoted excerpt of at most maxFuzzShown bytes, the bounded
// echo of a rejected value that api.FieldError makes on purpose.
func checkFuzzReply(t *testing.T, rec *httptest.ResponseRecorder, tokens []string, allow allow5xx, body []byte, raw ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok != "" && strings.Contains(rec.Body.String(), tok) {
			t.Fatalf("answer %d shows a token: %s", rec.Code, rec.Body)
		}
	}
	if rec.Code < 400 {
		return
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answer %d has Content-Type %q: %s", rec.Code, ct, rec.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	var eb api.ErrorBody
	if err := dec.Decode(&eb); err != nil || dec.Decode(new(any)) != io.EOF {
		t.Fatalf("error answer %d is not one api.ErrorBody (%v): %s", rec.Code, err, rec.Body)
	}
	if !errorCodeRE.MatchString(eb.Error.Code) || eb.Error.Message == "" {
		t.Fatalf("error answer %d lacks a code or message: %s", rec.Code, rec.Body)
	}
	if rec.Code >= 500 && allow[rec.Code] != eb.Error.Code {
		t.Fatalf("answer %d for this input: %s", rec.Code, rec.Body)
	}
	text := eb.Error.Message + "\n" + eb.Error.Hint
	outside := outsideShortQuotes(text)
	if strings.Contains(outside, fuzzMarker) {
		t.Fatalf("error answer %d echoes the payload's marker outside a short quoted excerpt: %s", rec.Code, rec.Body)
	}
	for _, s := range append(payloadStrings(body), raw...) {
		if len(s) <= maxFuzzShown {
			continue
		}
		quoted := strconv.Quote(s)
		if strings.Contains(text, s) || strings.Contains(text, quoted[1:len(quoted)-1]) {
			t.Fatalf("error answer %d echoes a payload string of %d bytes: %.300s", rec.Code, len(s), rec.Body)
		}
	}
}

// outsideShortQuotes returns s without its Go-quoted strings whose value
// is at most maxFuzzShown bytes.
func outsideShortQuotes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '"' {
			if q, err := strconv.QuotedPrefix(s[i:]); err == nil {
				if v, err := strconv.Unquote(q); err == nil && len(v) <= maxFuzzShown {
					i += len(q)
					continue
				}
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// payloadStrings returns the strings and object keys of a JSON body.
func payloadStrings(body []byte) []string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				out = append(out, k)
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
