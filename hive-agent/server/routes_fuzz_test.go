package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/hive-agent/supervisor"
	"github.com/rbee-fleet/rbee/shared/api"
)

// Fuzz targets for every route of the agent that decodes a body or a path
// value (issue 10), through the real handler and a real supervisor. Every
// answer must hold for any input: no panic, no 5xx but the one below, an
// error body that is well-formed JSON, and no echo of the payload in it
// (see checkAgentReply).
//
// The supervisor has cpu and cuda backends and GPUs 0 and 1, but no worker
// port (PortMin > PortMax): a spawn that passes every check stops at the
// port instead of binding ports on every interface and starting a process,
// and gets 503 NO_FREE_PORT, the honest answer of an agent without a free
// port whatever the input.

// agentFuzzMarker is planted in string fields of the seeds; '~' keeps it
// out of every identifier (worker id, backend).
const agentFuzzMarker = "ZQX~q7Jf2"

// maxAgentShown is api.FieldError's bound on the quoted excerpt of a
// rejected value.
const maxAgentShown = 64

const agentFuzzQueenToken = "fuzz-queen-token-0123456789abcdef"

func newFuzzAgent(f *testing.F) http.Handler {
	f.Helper()
	sum := sha256.Sum256([]byte(agentFuzzQueenToken))
	dir := f.TempDir()
	devices := func(context.Context) api.Devices {
		return api.Devices{Capabilities: []string{"cpu", "cuda:0", "cuda:1"},
			GPUs: []api.GPU{{Index: 0, MemoryFreeByte: 1 << 30}, {Index: 1, MemoryFreeByte: 2 << 30}}}
	}
	sup := supervisor.New(supervisor.Config{Node: "gpu-1",
		Backends: []api.Backend{
			{Name: "cpu", Command: []string{"/nonexistent/rbee-fuzz-worker", "{model_ref}"}},
			{Name: "cuda", DeviceKind: "cuda", Command: []string{"/nonexistent/rbee-fuzz-worker", "{device}"}},
		},
		PortMin: 2, PortMax: 1, CallbackURL: "http://127.0.0.1:7835/v1/workers/ready",
		StateFile: filepath.Join(dir, "workers.json"), LogDir: filepath.Join(dir, "logs"),
		Devices: devices, Log: slog.New(slog.DiscardHandler)})
	return Handler(Config{Workers: sup, Devices: devices, QueenTokenSHA256: hex.EncodeToString(sum[:])})
}

// FuzzAgentSpawn covers POST /v1/workers/spawn.
func FuzzAgentSpawn(f *testing.F) {
	h := newFuzzAgent(f)
	f.Add([]byte(`{"model_ref":"hf:TheBloke/TinyLlama-GGUF"}`))
	f.Add([]byte(`{"model_ref":"/models/llama.gguf","backend":"cuda","device":1,"ready_timeout_ms":60000}`))
	f.Add([]byte(`{"model_ref":"m","backend":"cuda","device":5}`))
	f.Add([]byte(`{"model_ref":"m","backend":"cpu","device":-1}`))
	f.Add([]byte(`{"node":"` + agentFuzzMarker + `","model_ref":"a b` + agentFuzzMarker + `","backend":"` + agentFuzzMarker + `"}`))
	f.Add([]byte(`{"model_ref":"` + strings.Repeat("m", 300) + agentFuzzMarker + `","backend":"` + strings.Repeat("b", 70) + agentFuzzMarker + `"}`))
	f.Add([]byte(`{"model_ref":"m","device":"` + agentFuzzMarker + `","` + agentFuzzMarker + `":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := serveAgent(h, http.MethodPost, "/v1/workers/spawn", agentFuzzQueenToken, body)
		checkAgentReply(t, rec, map[int]string{http.StatusServiceUnavailable: api.CodeNoFreePort}, body)
	})
}

// FuzzAgentReady covers POST /v1/workers/ready (a worker's callback with a
// token of no worker).
func FuzzAgentReady(f *testing.F) {
	h := newFuzzAgent(f)
	f.Add([]byte(`{"worker_id":"w-0123456789","url":"http://127.0.0.1:8081","model_ref":"m","backend":"cpu","device":0,"slots_total":4,"vram_bytes":0}`))
	f.Add([]byte(`{"worker_id":"w-1","slots_total":-1,"vram_bytes":-1}`))
	f.Add([]byte(`{"worker_id":"-` + agentFuzzMarker + `","url":"` + agentFuzzMarker + `"}`))
	f.Add([]byte(`{"worker_id":"` + strings.Repeat("w", 70) + agentFuzzMarker + `"}`))
	f.Add([]byte(`{"worker_id":1e999}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := serveAgent(h, http.MethodPost, "/v1/workers/ready", "worker-token-of-nobody", body)
		checkAgentReply(t, rec, nil, body)
	})
}

// FuzzAgentStop covers the path value of POST /v1/workers/{id}/stop.
func FuzzAgentStop(f *testing.F) {
	h := newFuzzAgent(f)
	f.Add("w-0123456789")
	f.Add("-" + agentFuzzMarker)
	f.Add(agentFuzzMarker + strings.Repeat("i", 80))
	f.Add("w-1\x00\n/..")
	f.Fuzz(func(t *testing.T, id string) {
		rec := serveAgent(h, http.MethodPost, "/v1/workers/"+url.PathEscape(id)+"/stop", agentFuzzQueenToken, nil)
		checkAgentReply(t, rec, nil, nil, id)
	})
}

// serveAgent sends one request through h; escaped is the path as sent on
// the wire.
func serveAgent(h http.Handler, method, escaped, token string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	if p, err := url.PathUnescape(escaped); err == nil {
		req.URL.Path, req.URL.RawPath = p, escaped
	}
	req.RequestURI = req.URL.RequestURI()
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var agentCodeRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// checkAgentReply asserts: status below 500 but for allow (status →
// code); an error answer is one JSON api.ErrorBody with a code and a
// message; no answer shows the queen token; an error answer echoes neither
// agentFuzzMarker nor any payload string (body strings and keys, raw path
// values) longer than maxAgentShown, except inside a quoted excerpt of at
// most maxAgentShown bytes (api.FieldError's bounded echo of a rejected
// value).
func checkAgentReply(t *testing.T, rec *httptest.ResponseRecorder, allow map[int]string, body []byte, raw ...string) {
	t.Helper()
	if strings.Contains(rec.Body.String(), agentFuzzQueenToken) {
		t.Fatalf("answer %d shows the queen token: %s", rec.Code, rec.Body)
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
	if !agentCodeRE.MatchString(eb.Error.Code) || eb.Error.Message == "" {
		t.Fatalf("error answer %d lacks a code or message: %s", rec.Code, rec.Body)
	}
	if rec.Code >= 500 && allow[rec.Code] != eb.Error.Code {
		t.Fatalf("answer %d for this input: %s", rec.Code, rec.Body)
	}
	text := eb.Error.Message + "\n" + eb.Error.Hint
	if strings.Contains(outsideShortQuotes(text), agentFuzzMarker) {
		t.Fatalf("error answer %d echoes the payload's marker outside a short quoted excerpt: %s", rec.Code, rec.Body)
	}
	for _, s := range append(payloadStrings(body), raw...) {
		if len(s) <= maxAgentShown {
			continue
		}
		quoted := strconv.Quote(s)
		if strings.Contains(text, s) || strings.Contains(text, quoted[1:len(quoted)-1]) {
			t.Fatalf("error answer %d echoes a payload string of %d bytes: %.300s", rec.Code, len(s), rec.Body)
		}
	}
}

// outsideShortQuotes returns s without its Go-quoted strings whose value
// is at most maxAgentShown bytes.
func outsideShortQuotes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '"' {
			if q, err := strconv.QuotedPrefix(s[i:]); err == nil {
				if v, err := strconv.Unquote(q); err == nil && len(v) <= maxAgentShown {
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
