package main

// Process tests: the real rbee-worker binary, built once in TestMain, run
// on loopback against a test agent made with httptest that records ready
// callbacks.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// workerBin is the rbee-worker binary TestMain built.
var workerBin string

const (
	testWorkerID = "w-test-1"
	testModelRef = "hf:rbee/tiny-test-GGUF"
	testToken    = "tok-s3cret-42"
	// waitLimit bounds every wait for the process; the happy paths take
	// milliseconds.
	waitLimit = 5 * time.Second
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rbee-worker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		os.Exit(1)
	}
	workerBin = filepath.Join(dir, "rbee-worker")
	if out, err := exec.Command("go", "build", "-o", workerBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build rbee-worker: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestReadyCallbackReportsWorker(t *testing.T) {
	t.Parallel()
	agent := startTestAgent(t, http.StatusOK)
	port := freePort(t)
	args := append(workerArgs(port, agent.url()), "--backend", "cuda", "--device", "1", "--slots", "2", "--load-delay", "800ms")
	w := startWorker(t, []string{api.WorkerTokenEnv + "=" + testToken, "RBEE_WORKER_VRAM_BYTES=8589934592"}, args...)

	if got := w.awaitHealth(t, http.StatusServiceUnavailable); got.Status != "loading" || got.State != api.WorkerLoading {
		t.Errorf("GET /health while loading = %+v, want status loading, state loading", got)
	}
	// The worker is ready before it calls back, so no callback can have come yet.
	if n := agent.count(); n != 0 {
		t.Errorf("%d ready callbacks while /health still answered loading, want 0", n)
	}

	call := agent.next(t)
	want := api.ReadyCallback{
		ID: testWorkerID, URL: "http://127.0.0.1:" + strconv.Itoa(port), ModelRef: testModelRef,
		Backend: "cuda", Device: 1, SlotsTotal: 2, VRAMBytes: 8589934592,
	}
	if call.body != want {
		t.Errorf("ready callback body = %+v, want %+v", call.body, want)
	}
	wantKeys := []string{"backend", "device", "model_ref", "slots_total", "url", "vram_bytes", "worker_id"}
	if keys := slices.Sorted(maps.Keys(call.raw)); !slices.Equal(keys, wantKeys) {
		t.Errorf("ready callback JSON keys = %v, want %v", keys, wantKeys)
	}
	if call.auth != "Bearer "+testToken {
		t.Errorf("ready callback Authorization = %q, want %q", call.auth, "Bearer "+testToken)
	}
	if call.contentType != "application/json" {
		t.Errorf("ready callback Content-Type = %q, want application/json", call.contentType)
	}
	if got := w.awaitHealth(t, http.StatusOK); got.Status != "ok" || got.State != api.WorkerIdle {
		t.Errorf("GET /health when ready = %+v, want status ok, state idle", got)
	}
	w.awaitLog(t, "ready callback accepted")
	if strings.Contains(w.stderr.String(), testToken) {
		t.Errorf("stderr shows the token:\n%s", w.stderr)
	}
}

func TestReadyCallbackRetriesServerErrors(t *testing.T) {
	t.Parallel()
	agent := startTestAgent(t, http.StatusServiceUnavailable, http.StatusOK)
	w := startWorker(t, nil, workerArgs(freePort(t), agent.url())...)
	w.awaitLog(t, "ready callback accepted")
	if n := agent.count(); n != 2 {
		t.Errorf("%d ready callbacks, want 2 (one 503, one 200)", n)
	}
	if w.hasExited() {
		t.Errorf("worker exited after its callback was accepted on retry")
	}
}

func TestReadyCallbackRejectedExits1(t *testing.T) {
	t.Parallel()
	agent := startTestAgent(t, http.StatusUnauthorized)
	w := startWorker(t, []string{api.WorkerTokenEnv + "=" + testToken}, workerArgs(freePort(t), agent.url())...)
	if code := w.exitCode(t); code != exitFailure {
		t.Fatalf("exit code %d, want %d", code, exitFailure)
	}
	stderr := w.stderr.String()
	for _, want := range []string{"401 Unauthorized", "wrong worker token", api.WorkerTokenEnv} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, testToken) {
		t.Errorf("stderr shows the token:\n%s", stderr)
	}
	if n := agent.count(); n != 1 {
		t.Errorf("%d ready callbacks, want 1: a 4xx is not retried", n)
	}
}

func TestNeverReadyStaysLoading(t *testing.T) {
	t.Parallel()
	agent := startTestAgent(t, http.StatusOK)
	w := startWorker(t, []string{"RBEE_WORKER_NEVER_READY=1"}, workerArgs(freePort(t), agent.url())...)
	w.awaitHealth(t, http.StatusServiceUnavailable)
	time.Sleep(500 * time.Millisecond)
	if got := w.health(t); got.code != http.StatusServiceUnavailable || got.body.State != api.WorkerLoading {
		t.Errorf("GET /health after 500ms = %d %+v, want 503 loading", got.code, got.body)
	}
	if code, _ := w.complete(t, `{"prompt":"hi"}`); code != http.StatusServiceUnavailable {
		t.Errorf("POST /v1/completions while loading = %d, want 503", code)
	}
	if n := agent.count(); n != 0 {
		t.Errorf("%d ready callbacks, want none with RBEE_WORKER_NEVER_READY=1", n)
	}
}

func TestCompletionsAreDeterministic(t *testing.T) {
	t.Parallel()
	w := startWorker(t, nil, workerArgs(freePort(t), "")...)
	w.awaitHealth(t, http.StatusOK)
	const prompt = `{"model":"tiny","prompt":"the quick brown fox"}`

	first := w.mustComplete(t, prompt)
	second := w.mustComplete(t, prompt)
	if first.Choices[0].Text != second.Choices[0].Text {
		t.Errorf("same prompt, different text: %q then %q", first.Choices[0].Text, second.Choices[0].Text)
	}
	words := strings.Fields(first.Choices[0].Text)
	if len(words) < 1 || len(words) > defaultMaxTokens {
		t.Errorf("default answer has %d words, want 1–%d", len(words), defaultMaxTokens)
	}
	if !strings.HasPrefix(first.ID, "cmpl-") || first.ID == second.ID {
		t.Errorf("ids %q and %q, want distinct cmpl-… ids", first.ID, second.ID)
	}
	wantUsage := completionUsage{PromptTokens: 4, CompletionTokens: len(words), TotalTokens: 4 + len(words)}
	if first.Object != "text_completion" || first.Model != testModelRef || first.Usage != wantUsage {
		t.Errorf("answer = %+v, want object text_completion, model %s, usage %+v", first, testModelRef, wantUsage)
	}

	cut := w.mustComplete(t, `{"prompt":"the quick brown fox","max_tokens":3}`)
	if got := strings.Fields(cut.Choices[0].Text); !slices.Equal(got, words[:3]) || cut.Choices[0].FinishReason != "length" {
		t.Errorf("max_tokens 3: %q finish %q, want %q finish length", got, cut.Choices[0].FinishReason, words[:3])
	}
}

// TestCompletionDelayHoldsSlot runs completions held open by
// --completion-delay: /health reports the worker busy with no free slot
// while both slots are taken, and idle with both free once they answered.
func TestCompletionDelayHoldsSlot(t *testing.T) {
	t.Parallel()
	w := startWorker(t, nil, append(workerArgs(freePort(t), ""), "--slots", "2", "--completion-delay", "1s")...)
	if h := w.awaitHealth(t, http.StatusOK); h.State != api.WorkerIdle || h.SlotsTotal != 2 || h.SlotsAvailable != 2 {
		t.Fatalf("health before any completion = %+v, want idle with 2 of 2 slots free", h)
	}
	codes := make(chan int, 2)
	for range 2 {
		go func() { // not w.complete: no t.Fatal outside the test's goroutine
			resp, err := http.Post(w.base+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"hold on"}`))
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	w.awaitHealthState(t, api.WorkerBusy, 0)
	for range 2 {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("held completion answered %d, want 200", code)
		}
	}
	w.awaitHealthState(t, api.WorkerIdle, 2)
}

func TestCompletionsRejectBadJSON(t *testing.T) {
	t.Parallel()
	w := startWorker(t, nil, workerArgs(freePort(t), "")...)
	w.awaitHealth(t, http.StatusOK)
	for _, body := range []string{`{"prompt":`, `{"prompt":42}`, `not json`} {
		code, raw := w.complete(t, body)
		var got apiErrorBody
		if err := json.Unmarshal(raw, &got); err != nil || code != http.StatusBadRequest || got.Error.Type != errTypeInvalidRequest {
			t.Errorf("POST %s = %d %s, want 400 with type %s", body, code, raw, errTypeInvalidRequest)
		}
	}
}

func TestStopSignalExitsZero(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			w := startWorker(t, nil, workerArgs(freePort(t), "")...)
			w.awaitHealth(t, http.StatusOK)
			w.signal(t, sig)
			if code := w.exitCode(t); code != 0 {
				t.Errorf("exit code after %s = %d, want 0", sig, code)
			}
			if !strings.Contains(w.stderr.String(), "shutting down") {
				t.Errorf("stderr lacks \"shutting down\":\n%s", w.stderr)
			}
		})
	}
}

func TestIgnoreSIGTERMKeepsRunning(t *testing.T) {
	t.Parallel()
	w := startWorker(t, []string{"RBEE_WORKER_IGNORE_SIGTERM=1"}, workerArgs(freePort(t), "")...)
	w.awaitHealth(t, http.StatusOK)
	w.signal(t, syscall.SIGTERM)
	w.awaitLog(t, "ignoring signal")
	time.Sleep(time.Second)
	if w.hasExited() {
		t.Fatalf("worker exited after SIGTERM with RBEE_WORKER_IGNORE_SIGTERM=1:\n%s", w.stderr)
	}
	if got := w.health(t); got.code != http.StatusOK {
		t.Errorf("GET /health 1s after an ignored SIGTERM = %d, want 200", got.code)
	}
	w.signal(t, syscall.SIGKILL)
	if ws := w.wait(t).Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("after SIGKILL: wait status %v, want killed by SIGKILL", ws)
	}
}

func TestCrashAfterExits3(t *testing.T) {
	t.Parallel()
	w := startWorker(t, []string{"RBEE_WORKER_CRASH_AFTER=300ms"}, workerArgs(freePort(t), "")...)
	if code := w.exitCode(t); code != exitCrash {
		t.Fatalf("exit code %d, want %d", code, exitCrash)
	}
	if want := "crashed on purpose after 300ms"; !strings.Contains(w.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, w.stderr)
	}
}

func TestPortTakenExits1(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	w := startWorker(t, nil, workerArgs(port, "")...)
	if code := w.exitCode(t); code != exitFailure {
		t.Fatalf("exit code %d, want %d", code, exitFailure)
	}
	if want := fmt.Sprintf("rbee-worker: listen on 127.0.0.1:%d: address already in use", port); !strings.Contains(w.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, w.stderr)
	}
}

func TestBadFlagsExit2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"worker id with a space", []string{"--worker-id", "w 1"}, "--worker-id"},
		{"callback not a URL", []string{"--callback-url", "127.0.0.1:7834"}, "--callback-url"},
		{"no slots", []string{"--slots", "0"}, "--slots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := startWorker(t, nil, append(workerArgs(freePort(t), ""), tt.args...)...)
			if code := w.exitCode(t); code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if !strings.Contains(w.stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, w.stderr)
			}
		})
	}
}

func TestMissingFlagsExit2(t *testing.T) {
	t.Parallel()
	w := startWorker(t, nil, "--port", strconv.Itoa(freePort(t)), "--host", "127.0.0.1")
	if code := w.exitCode(t); code != exitUsage {
		t.Errorf("exit code %d, want %d", code, exitUsage)
	}
	if want := "missing flags: --backend=NAME, --device=N, --model-ref=REF, --worker-id=ID"; !strings.Contains(w.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, w.stderr)
	}
}

// workerArgs are the contract's flags for a worker on 127.0.0.1:port.
func workerArgs(port int, callbackURL string) []string {
	return []string{
		"--worker-id", testWorkerID, "--model-ref", testModelRef, "--backend", "cpu", "--device", "0",
		"--port", strconv.Itoa(port), "--callback-url", callbackURL, "--host", "127.0.0.1",
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// workerProc is a running rbee-worker.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	base   string // http://127.0.0.1:<port>
	exited chan struct{}
}

// startWorker starts rbee-worker with args and env added to the test's
// environment (without any RBEE_WORKER_ variable of its own). Cleanup kills
// it and prints its stderr when the test failed.
func startWorker(t *testing.T, env []string, args ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(workerBin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "RBEE_WORKER_") })
	cmd.Env = append(cmd.Env, env...)
	w := &workerProc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = w.stderr
	if i := slices.Index(args, "--port"); i >= 0 {
		w.base = "http://127.0.0.1:" + args[i+1]
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rbee-worker: %v", err)
	}
	go func() {
		cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		if !w.hasExited() {
			cmd.Process.Kill()
			<-w.exited
		}
		if t.Failed() {
			t.Logf("rbee-worker stderr:\n%s", w.stderr)
		}
	})
	return w
}

func (w *workerProc) hasExited() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

func (w *workerProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %s: %v", sig, err)
	}
}

// wait waits up to waitLimit for the worker to exit.
func (w *workerProc) wait(t *testing.T) *os.ProcessState {
	t.Helper()
	select {
	case <-w.exited:
		return w.cmd.ProcessState
	case <-time.After(waitLimit):
		t.Fatalf("rbee-worker still running after %s", waitLimit)
		return nil
	}
}

func (w *workerProc) exitCode(t *testing.T) int {
	t.Helper()
	return w.wait(t).ExitCode()
}

// awaitLog waits up to waitLimit for msg in the worker's stderr.
func (w *workerProc) awaitLog(t *testing.T, msg string) {
	t.Helper()
	for deadline := time.Now().Add(waitLimit); !strings.Contains(w.stderr.String(), msg); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) || w.hasExited() {
			t.Fatalf("stderr lacks %q after %s (exited: %v)", msg, waitLimit, w.hasExited())
		}
	}
}

type healthAnswer struct {
	code int
	body healthBody
	err  error
}

func (w *workerProc) health(t *testing.T) healthAnswer {
	t.Helper()
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get(w.base + "/health")
	if err != nil {
		return healthAnswer{err: err}
	}
	defer resp.Body.Close()
	a := healthAnswer{code: resp.StatusCode}
	a.err = json.NewDecoder(resp.Body).Decode(&a.body)
	return a
}

// awaitHealth polls GET /health until it answers code, for up to waitLimit.
func (w *workerProc) awaitHealth(t *testing.T, code int) healthBody {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		a := w.health(t)
		if a.err == nil && a.code == code {
			return a.body
		}
		if time.Now().After(deadline) || w.hasExited() {
			t.Fatalf("GET /health: want %d; last answer %d %+v (err %v, exited %v)", code, a.code, a.body, a.err, w.hasExited())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitHealthState polls GET /health until it reports state with free
// slots available, for up to waitLimit.
func (w *workerProc) awaitHealthState(t *testing.T, state string, free int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		a := w.health(t)
		if a.err == nil && a.code == http.StatusOK && a.body.State == state && a.body.SlotsAvailable == free {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /health: want 200 %s with %d free slots; last answer %d %+v (err %v)", state, free, a.code, a.body, a.err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// complete POSTs body to /v1/completions and returns the status and body.
func (w *workerProc) complete(t *testing.T, body string) (int, []byte) {
	t.Helper()
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Post(w.base+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST /v1/completions: %v", err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func (w *workerProc) mustComplete(t *testing.T, body string) completionResponse {
	t.Helper()
	code, raw := w.complete(t, body)
	var got completionResponse
	if err := json.Unmarshal(raw, &got); err != nil || code != http.StatusOK || len(got.Choices) != 1 {
		t.Fatalf("POST /v1/completions %s = %d %s (decode: %v), want 200 with one choice", body, code, raw, err)
	}
	return got
}

// testAgent stands in for the hive agent's POST /v1/workers/ready. It
// answers the statuses it was given in turn, repeating the last one.
type testAgent struct {
	srv      *httptest.Server
	statuses []int
	calls    chan readyCall

	mu sync.Mutex
	n  int
}

type readyCall struct {
	auth, contentType string
	body              api.ReadyCallback
	raw               map[string]any
}

func startTestAgent(t *testing.T, statuses ...int) *testAgent {
	t.Helper()
	a := &testAgent{statuses: statuses, calls: make(chan readyCall, 16)}
	a.srv = httptest.NewServer(http.HandlerFunc(a.handleReady))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testAgent) url() string { return a.srv.URL + "/v1/workers/ready" }

func (a *testAgent) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func (a *testAgent) handleReady(rw http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	buf.ReadFrom(r.Body)
	call := readyCall{auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
	json.Unmarshal(buf.Bytes(), &call.body)
	json.Unmarshal(buf.Bytes(), &call.raw)
	a.mu.Lock()
	status := a.statuses[min(a.n, len(a.statuses)-1)]
	a.n++
	a.mu.Unlock()
	a.calls <- call

	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	switch {
	case status == http.StatusUnauthorized:
		json.NewEncoder(rw).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeUnauthorized, Message: "wrong worker token"}})
	case status >= 400:
		json.NewEncoder(rw).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeInternal, Message: "agent restarting"}})
	default:
		rw.Write([]byte("{}\n"))
	}
}

// next waits up to waitLimit for a ready callback.
func (a *testAgent) next(t *testing.T) readyCall {
	t.Helper()
	select {
	case c := <-a.calls:
		return c
	case <-time.After(waitLimit):
		t.Fatalf("no ready callback within %s", waitLimit)
		return readyCall{}
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
