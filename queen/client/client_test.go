package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

const testToken = "0f3c9a7e-admin-token"

func TestAddNodeStreamsEventsThenResult(t *testing.T) {
	want := api.Node{NodeName: "gpu-1", SSHHost: "127.0.0.1", SSHPort: 2222, Status: api.StatusReachable}
	var got api.AddNodeRequest
	url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/hives" {
			t.Errorf("request = %s %s, want POST /v1/hives", r.Method, r.URL.Path)
		}
		if a := r.Header.Get("Accept"); a != api.ContentTypeNDJSON {
			t.Errorf("Accept = %q, want %q", a, api.ContentTypeNDJSON)
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode request: %v", err)
		}
		writeEvents(t, w,
			api.Event{Level: api.LevelInfo, Node: "gpu-1", Message: "🔌 Testing SSH connection to 127.0.0.1:2222"},
			api.Event{Level: api.LevelWarn, Node: "gpu-1", Message: "⏳ Attempt 1/3 failed: connection refused (retrying in 200ms)", Attempt: 1, Attempts: 3},
			resultEvent(t, "✅ SSH connection successful! Node 'gpu-1' saved to registry", want),
		)
	})
	req := api.AddNodeRequest{Name: "gpu-1", SSHHost: "127.0.0.1", SSHPort: 2222, GitRepoURL: "https://git.example/rbee.git", InstallPath: "~/rbee"}
	var msgs []string
	n, err := client.New(url, testToken).AddNode(t.Context(), req, func(ev api.Event) { msgs = append(msgs, ev.Message) })
	if err != nil {
		t.Fatalf("AddNode: %v", err)
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("node = %+v, want %+v", n, want)
	}
	if got != req {
		t.Errorf("queen got %+v, want %+v", got, req)
	}
	wantMsgs := []string{
		"🔌 Testing SSH connection to 127.0.0.1:2222",
		"⏳ Attempt 1/3 failed: connection refused (retrying in 200ms)",
		"✅ SSH connection successful! Node 'gpu-1' saved to registry",
	}
	if !reflect.DeepEqual(msgs, wantMsgs) {
		t.Errorf("events = %q, want %q", msgs, wantMsgs)
	}
}

func TestStreamFinalErrorIsAPIError(t *testing.T) {
	tests := []struct {
		name         string
		detail       api.ErrorDetail
		wantConflict bool
	}{
		{
			name:   "connect failed",
			detail: api.ErrorDetail{Code: api.CodeSSHConnectFailed, Message: "ssh to 10.0.0.7:22: connection refused after 3 attempts", Hint: "check that sshd runs on the node"},
		},
		{
			name:   "auth failed",
			detail: api.ErrorDetail{Code: api.CodeSSHAuthFailed, Message: "ssh to gpu-1: key refused", Hint: "check `ssh-add -l`"},
		},
		{
			name:   "host key mismatch",
			detail: api.ErrorDetail{Code: api.CodeHostKeyMismatch, Message: "host key of gpu-1 changed: pinned SHA256:aaa got SHA256:bbb", Hint: "re-pin with --reset-host-key"},
		},
		{
			name:         "name taken meanwhile",
			detail:       api.ErrorDetail{Code: api.CodeAlreadyExists, Message: `node "gpu-1" already exists`, Hint: "pick another name"},
			wantConflict: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				writeEvents(t, w,
					api.Event{Level: api.LevelInfo, Node: "gpu-1", Message: "🔌 Testing SSH connection"},
					api.ErrorEvent(1, "gpu-1", tt.detail))
			})
			var n int
			_, err := client.New(url, testToken).AddNode(t.Context(), api.AddNodeRequest{Name: "gpu-1"}, func(api.Event) { n++ })
			e, ok := errors.AsType[*client.APIError](err)
			if !ok {
				t.Fatalf("err = %v (%T), want *client.APIError", err, err)
			}
			if e.Detail != tt.detail || e.Error() != tt.detail.Message || e.Hint() != tt.detail.Hint {
				t.Errorf("error = %+v, want detail %+v", e, tt.detail)
			}
			if client.Code(err) != tt.detail.Code {
				t.Errorf("Code = %q, want %q", client.Code(err), tt.detail.Code)
			}
			if client.IsConflict(err) != tt.wantConflict {
				t.Errorf("IsConflict = %v, want %v", client.IsConflict(err), tt.wantConflict)
			}
			if n != 2 {
				t.Errorf("onEvent called %d times, want 2 (the last event too)", n)
			}
		})
	}
}

func TestErrorAnswersAreAPIErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		call        string // "get", "remove", "add", "update", "preflight"
		wantCode    string
		wantMsg     string
		wantHint    bool
		wantNotFnd  bool
		wantConfl   bool
		wantUnauth  bool
	}{
		{
			name: "unknown node", status: 404, contentType: "application/json", call: "get",
			body:     `{"error":{"code":"NOT_FOUND","message":"hive not found: \"gpu-9\"","hint":"list the registered nodes with ` + "`queen setup list-nodes`" + `"}}`,
			wantCode: api.CodeNotFound, wantMsg: `hive not found: "gpu-9"`, wantHint: true, wantNotFnd: true,
		},
		{
			name: "remove unknown node", status: 404, contentType: "application/json", call: "remove",
			body:     `{"error":{"code":"NOT_FOUND","message":"hive not found"}}`,
			wantCode: api.CodeNotFound, wantMsg: "hive not found", wantNotFnd: true,
		},
		{
			name: "invalid field before the stream", status: 400, contentType: "application/json", call: "add",
			body:     `{"error":{"code":"INVALID_FIELD","message":"invalid ssh_port \"0\": must be 1–65535","hint":"fix the field named above and try again"}}`,
			wantCode: api.CodeInvalidField, wantMsg: `invalid ssh_port "0": must be 1–65535`, wantHint: true,
		},
		{
			name: "name taken before the stream", status: 409, contentType: "application/json", call: "add",
			body:     `{"error":{"code":"ALREADY_EXISTS","message":"hive already exists: \"gpu-1\""}}`,
			wantCode: api.CodeAlreadyExists, wantMsg: `hive already exists: "gpu-1"`, wantConfl: true,
		},
		{
			name: "update of unknown node", status: 404, contentType: "application/json", call: "update",
			body:     `{"error":{"code":"NOT_FOUND","message":"hive not found"}}`,
			wantCode: api.CodeNotFound, wantMsg: "hive not found", wantNotFnd: true,
		},
		{
			name: "wrong token", status: 401, contentType: "application/json", call: "preflight",
			body:     `{"error":{"code":"UNAUTHORIZED","message":"missing or wrong bearer token","hint":"pass the queen's admin token"}}`,
			wantCode: api.CodeUnauthorized, wantMsg: "missing or wrong bearer token", wantHint: true, wantUnauth: true,
		},
		{
			name: "proxy page instead of the queen", status: 502, contentType: "text/html", call: "get",
			body:    "<html><body>Bad Gateway</body></html>",
			wantMsg: "queen answered HTTP 502 Bad Gateway", wantHint: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			err := call(t.Context(), client.New(url, testToken), tt.call)
			e, ok := errors.AsType[*client.APIError](err)
			if !ok {
				t.Fatalf("err = %v (%T), want *client.APIError", err, err)
			}
			if e.Status != tt.status || e.Detail.Code != tt.wantCode || err.Error() != tt.wantMsg {
				t.Errorf("error = %d %q %q, want %d %q %q", e.Status, e.Detail.Code, err.Error(), tt.status, tt.wantCode, tt.wantMsg)
			}
			if (e.Hint() != "") != tt.wantHint {
				t.Errorf("hint = %q, want a hint: %v", e.Hint(), tt.wantHint)
			}
			if client.IsNotFound(err) != tt.wantNotFnd || client.IsConflict(err) != tt.wantConfl || client.IsUnauthorized(err) != tt.wantUnauth {
				t.Errorf("IsNotFound, IsConflict, IsUnauthorized = %v %v %v, want %v %v %v",
					client.IsNotFound(err), client.IsConflict(err), client.IsUnauthorized(err), tt.wantNotFnd, tt.wantConfl, tt.wantUnauth)
			}
		})
	}
}

func TestQueenNotRunningIsUnreachable(t *testing.T) {
	url := closedPortURL(t)
	err := call(t.Context(), client.New(url, testToken), "list")
	e, ok := errors.AsType[*client.UnreachableError](err)
	if !ok {
		t.Fatalf("err = %v (%T), want *client.UnreachableError", err, err)
	}
	want := "cannot reach queen at " + url + ": connection refused; start it with `queen serve` or pass --queen-url"
	if e.Error() != want {
		t.Errorf("error = %q, want %q", e.Error(), want)
	}
	if e.URL != url || !client.IsUnreachable(err) {
		t.Errorf("URL = %q, IsUnreachable = %v", e.URL, client.IsUnreachable(err))
	}
	for _, c := range []string{"add", "preflight"} {
		if err := call(t.Context(), client.New(url, testToken), c); !client.IsUnreachable(err) {
			t.Errorf("%s: err = %v, want unreachable", c, err)
		}
	}
}

func TestMalformedAnswersAreResponseErrors(t *testing.T) {
	long := strings.Repeat("x", client.MaxBodyBytes+10)
	tests := []struct {
		name        string
		call        string
		contentType string
		body        string
		wantErr     string
		wantCut     bool
	}{
		{name: "list not JSON", call: "list", contentType: "application/json", body: "<html>hello</html>", wantErr: "GET /v1/hives: unexpected answer from queen: decode body"},
		{name: "list over 1 MiB", call: "list", contentType: "application/json", body: `{"nodes":"` + long + `"}`, wantErr: "body over 1048576 bytes"},
		{name: "event not JSON", call: "add", contentType: api.ContentTypeNDJSON, body: "{\"level\":\"info\",\"message\":\"ok\"}\nnot json\n", wantErr: "POST /v1/hives: unexpected answer from queen: decode event"},
		{name: "last event without result", call: "add", contentType: api.ContentTypeNDJSON, body: `{"level":"info","message":"x","done":true}` + "\n", wantErr: "bad event"},
		{name: "event with unknown level", call: "preflight", contentType: api.ContentTypeNDJSON, body: `{"level":"debug","message":"x"}` + "\n", wantErr: "bad event"},
		{name: "event line over 1 MiB", call: "add", contentType: api.ContentTypeNDJSON, body: `{"level":"info","message":"` + long + `"}` + "\n", wantErr: "event line over 1048576 bytes"},
		{name: "stream cut before the last event", call: "update", contentType: api.ContentTypeNDJSON, body: `{"level":"info","message":"🔌 Testing SSH connection"}` + "\n", wantErr: "stream ended before its last event", wantCut: true},
		{name: "result of the wrong shape", call: "add", contentType: api.ContentTypeNDJSON, body: `{"level":"info","message":"x","done":true,"result":[1,2]}` + "\n", wantErr: "decode body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				io.WriteString(w, tt.body)
			})
			err := call(t.Context(), client.New(url, testToken), tt.call)
			e, ok := errors.AsType[*client.ResponseError](err)
			if !ok {
				t.Fatalf("err = %v (%T), want *client.ResponseError", err, err)
			}
			if !strings.Contains(e.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", e.Error(), tt.wantErr)
			}
			if errors.Is(err, client.ErrStreamCut) != tt.wantCut {
				t.Errorf("errors.Is(err, ErrStreamCut) = %v, want %v", errors.Is(err, client.ErrStreamCut), tt.wantCut)
			}
			if e.Hint() == "" {
				t.Error("no hint")
			}
		})
	}
}

func TestStreamCopyPassesLinesUnchanged(t *testing.T) {
	lines := `{"time_unix_ms":1,"level":"info","node":"gpu-1","message":"🔌 Testing SSH connection to 127.0.0.1:2222","future_field":7}` + "\n" +
		`{"time_unix_ms":2,"level":"info","node":"gpu-1","message":"✅ done","done":true,"result":{"node":"gpu-1","ssh_ok":true}}` + "\n"
	url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.ContentTypeNDJSON)
		io.WriteString(w, lines)
	})
	var copied strings.Builder
	r, err := client.New(url, testToken, client.WithStreamCopy(&copied)).Preflight(t.Context(), "gpu-1", nil)
	if err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	if copied.String() != lines {
		t.Errorf("copied\n%s\nwant\n%s", copied.String(), lines)
	}
	if r.Node != "gpu-1" || !r.SSHOK {
		t.Errorf("report = %+v", r)
	}
}

func TestStreamAcceptsPlainJSONResult(t *testing.T) {
	url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"node_name":"gpu-1","status":"reachable"}`)
	})
	n, err := client.New(url, testToken).AddNode(t.Context(), api.AddNodeRequest{Name: "gpu-1"}, nil)
	if err != nil || n.NodeName != "gpu-1" || n.Status != api.StatusReachable {
		t.Fatalf("AddNode = %+v, %v", n, err)
	}
}

func TestStreamOutlivesTimeoutButNotContext(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.ContentTypeNDJSON)
		writeEvents(t, w, api.Event{Level: api.LevelInfo, Message: "⏳ Attempt 1/3 failed"})
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		writeEvents(t, w, resultEvent(t, "✅ done", api.Node{NodeName: "gpu-1"}))
	}
	t.Run("longer than the plain timeout", func(t *testing.T) {
		c := client.New(fakeQueen(t, slow), testToken, client.WithTimeout(50*time.Millisecond))
		if _, err := c.UpdateNode(t.Context(), "gpu-1", api.UpdateNodeRequest{ResetHostKey: true}, nil); err != nil {
			t.Fatalf("UpdateNode: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		c := client.New(fakeQueen(t, slow), testToken)
		_, err := c.UpdateNode(ctx, "gpu-1", api.UpdateNodeRequest{ResetHostKey: true}, func(api.Event) { cancel() })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestRequests(t *testing.T) {
	tests := []struct {
		name     string
		call     string
		wantReq  string
		wantAuth bool
	}{
		{name: "health needs no token", call: "health", wantReq: "GET /v1/health"},
		{name: "list", call: "list", wantReq: "GET /v1/hives", wantAuth: true},
		{name: "get", call: "get", wantReq: "GET /v1/hives/gpu-1", wantAuth: true},
		{name: "remove", call: "remove", wantReq: "DELETE /v1/hives/gpu-1", wantAuth: true},
		{name: "update", call: "update", wantReq: "PATCH /v1/hives/gpu-1", wantAuth: true},
		{name: "preflight", call: "preflight", wantReq: "POST /v1/hives/gpu-1/preflight", wantAuth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				got = r.Method + " " + r.URL.Path
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, "{}")
			})
			token := ""
			if tt.wantAuth {
				token = testToken
			}
			if err := call(t.Context(), client.New(url+"/", token), tt.call); err != nil {
				t.Fatalf("%s: %v", tt.call, err)
			}
			if got != tt.wantReq {
				t.Errorf("request = %q, want %q", got, tt.wantReq)
			}
		})
	}
}

func TestInvalidBaseURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:7833", "ftp://queen", "http://"} {
		err := call(t.Context(), client.New(u, testToken), "list")
		if err == nil || !strings.Contains(err.Error(), "pass --queen-url like http://127.0.0.1:7833") {
			t.Errorf("New(%q): err = %v, want an invalid URL error", u, err)
		}
	}
}

// call runs one client method by name; results are dropped.
func call(ctx context.Context, c *client.Client, name string) error {
	var err error
	switch name {
	case "health":
		_, err = c.Health(ctx)
	case "list":
		_, err = c.ListNodes(ctx)
	case "get":
		_, err = c.GetNode(ctx, "gpu-1")
	case "remove":
		_, err = c.RemoveNode(ctx, "gpu-1", false)
	case "add":
		_, err = c.AddNode(ctx, api.AddNodeRequest{Name: "gpu-1"}, nil)
	case "update":
		_, err = c.UpdateNode(ctx, "gpu-1", api.UpdateNodeRequest{ResetHostKey: true}, nil)
	case "preflight":
		_, err = c.Preflight(ctx, "gpu-1", nil)
	default:
		panic("unknown call " + name)
	}
	return err
}

// fakeQueen serves h behind the queen's token check (all routes but
// /v1/health) and returns its URL.
func fakeQueen(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/health" && r.Header.Get("Authorization") != "Bearer "+testToken {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"UNAUTHORIZED","message":"missing or wrong bearer token"}}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// writeEvents writes events as NDJSON and flushes them.
func writeEvents(t *testing.T, w http.ResponseWriter, events ...api.Event) {
	t.Helper()
	w.Header().Set("Content-Type", api.ContentTypeNDJSON)
	for _, ev := range events {
		line, err := json.Marshal(ev)
		if err != nil {
			t.Errorf("encode event: %v", err)
			return
		}
		fmt.Fprintf(w, "%s\n", line)
	}
	w.(http.Flusher).Flush()
}

// resultEvent returns the last event of a successful operation.
func resultEvent(t *testing.T, msg string, result any) api.Event {
	t.Helper()
	ev, err := api.ResultEvent(1, "gpu-1", msg, result)
	if err != nil {
		t.Fatalf("ResultEvent: %v", err)
	}
	return ev
}

// closedPortURL returns the URL of a local port nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
