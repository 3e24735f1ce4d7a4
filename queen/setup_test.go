package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/api"
)

// testToken is the admin token of the fake queen.
const testToken = "7d1e5c0a9b-admin-secret"

func TestSetupCommandsParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "add-node without --git-repo", args: []string{"setup", "add-node", "--name", "gpu-1", "--ssh-host", "h", "--install-path", "/opt/rbee"}, wantErr: "missing flags: --git-repo=URL"},
		{name: "add-node with a bad timeout", args: []string{"setup", "add-node", "--name", "gpu-1", "--ssh-host", "h", "--git-repo", "u", "--install-path", "/p", "--connect-timeout", "ten"}, wantErr: "--connect-timeout"},
		{name: "update-node without --name", args: []string{"setup", "update-node", "--ssh-port", "2222"}, wantErr: "missing flags: --name=NAME"},
		{name: "remove-node without --name", args: []string{"setup", "remove-node"}, wantErr: "missing flags: --name=NAME"},
		{name: "preflight without --node", args: []string{"setup", "preflight"}, wantErr: "missing flags: --node=NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runQueen(t, tt.args...)
			if res.err == nil || !bytes.Contains([]byte(res.err.Error()), []byte(tt.wantErr)) {
				t.Errorf("err = %v, want it to contain %q", res.err, tt.wantErr)
			}
		})
	}
}

// cliResult is what one in-process run of the queen command produced.
type cliResult struct {
	stdout, stderr string
	err            error
}

// runQueen parses args with kong as main does and runs the chosen command,
// with RBEE_TOKEN, RBEE_HOME and RBEE_QUEEN_URL unset unless the test set
// them after calling clearQueenEnv.
func runQueen(t *testing.T, args ...string) cliResult {
	t.Helper()
	var c cli
	var stdout, stderr bytes.Buffer
	parser, err := newParser(&c, kong.Writers(&stdout, &stderr),
		kong.Exit(func(code int) { t.Fatalf("kong exited with %d: %s", code, stderr.String()) }))
	if err != nil {
		t.Fatalf("kong.New: %v", err)
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		return cliResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
	}
	kctx.BindTo(t.Context(), (*context.Context)(nil))
	kctx.Bind(&c.Globals)
	err = kctx.Run()
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// fakeQueen is an httptest server speaking the queen's HTTP contract for one
// test: it checks the bearer token (all routes but /v1/health), records every
// request and answers with the test's handler.
type fakeQueen struct {
	url     string
	dataDir string // holds admin.token with testToken

	mu       sync.Mutex
	requests []recordedRequest
}

// recordedRequest is one request the fake queen got.
type recordedRequest struct {
	method, path, auth string
	body               []byte
}

// newFakeQueen starts a fake queen answering authorized requests with h and
// clears the queen's environment variables for the test.
func newFakeQueen(t *testing.T, h http.HandlerFunc) *fakeQueen {
	t.Helper()
	clearQueenEnv(t)
	q := &fakeQueen{dataDir: t.TempDir()}
	writeFile(t, filepath.Join(q.dataDir, "admin.token"), testToken+"\n", 0o600)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q.mu.Lock()
		q.requests = append(q.requests, recordedRequest{r.Method, r.URL.Path, r.Header.Get("Authorization"), body})
		q.mu.Unlock()
		if r.URL.Path != "/v1/health" && r.Header.Get("Authorization") != "Bearer "+testToken {
			answerError(w, http.StatusUnauthorized, api.ErrorDetail{Code: api.CodeUnauthorized,
				Message: "missing or wrong bearer token", Hint: "pass the queen's admin token"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	q.url = srv.URL
	return q
}

// args returns the global flags that point at the fake queen and its data
// dir (which holds the token), followed by args.
func (q *fakeQueen) args(args ...string) []string {
	return append([]string{"--queen-url", q.url, "--data-dir", q.dataDir}, args...)
}

// count returns how many requests reached the fake queen.
func (q *fakeQueen) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.requests)
}

// last returns the last request the fake queen got.
func (q *fakeQueen) last(t *testing.T) recordedRequest {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.requests) == 0 {
		t.Fatal("no request reached the queen")
	}
	return q.requests[len(q.requests)-1]
}

// answerJSON writes v with status.
func answerJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// answerError writes the queen's JSON error body.
func answerError(w http.ResponseWriter, status int, d api.ErrorDetail) {
	answerJSON(w, status, api.ErrorBody{Error: d})
}

// answerEvents writes a 200 NDJSON stream of events.
func answerEvents(t *testing.T, w http.ResponseWriter, events ...api.Event) {
	t.Helper()
	w.Header().Set("Content-Type", api.ContentTypeNDJSON)
	for _, ev := range events {
		line, err := json.Marshal(ev)
		if err != nil {
			t.Errorf("encode event: %v", err)
			return
		}
		fmt.Fprintf(w, "%s\n", line)
		w.(http.Flusher).Flush()
	}
}

// doneEvent returns the last event of a successful operation on node.
func doneEvent(t *testing.T, node, msg string, result any) api.Event {
	t.Helper()
	ev, err := api.ResultEvent(1760000000000, node, msg, result)
	if err != nil {
		t.Fatalf("ResultEvent: %v", err)
	}
	return ev
}

// clearQueenEnv unsets the queen's environment variables for the test and
// restores them after it.
func clearQueenEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{"RBEE_TOKEN", "RBEE_HOME", "RBEE_QUEEN_URL"} {
		t.Setenv(name, "") // restores the old value after the test
		os.Unsetenv(name)
	}
}

// writeFile writes a file with perm, whatever the umask.
func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}
