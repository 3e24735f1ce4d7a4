package main

// Process tests: the real hive-agent binary against a test queen made with
// httptest that records heartbeats. The lead's end-to-end tests run it
// against the real queen.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
)

// testVersion is stamped into the test binary.
const testVersion = "testver0a1b2c"

func TestMain(m *testing.M) {
	code := m.Run()
	gobuild.Cleanup()
	os.Exit(code)
}

func TestVersionCommand(t *testing.T) {
	out, err := exec.Command(buildAgent(t), "version").Output()
	if err != nil {
		t.Fatalf("hive-agent version: %v", err)
	}
	if got, want := string(out), "hive-agent "+testVersion+"\n"; got != want {
		t.Errorf("hive-agent version printed %q, want %q", got, want)
	}
}

func TestHealthAnswersWithVersion(t *testing.T) {
	q := startQueen(t, "127.0.0.1:0")
	a := startAgent(t, q.url(), "")
	resp, err := http.Get("http://" + a.listen + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got api.Health
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if want := (api.Health{Status: "alive", Version: testVersion, APIVersion: "v1"}); resp.StatusCode != http.StatusOK || got != want {
		t.Errorf("GET /v1/health: %s %+v, want 200 %+v", resp.Status, got, want)
	}

	for path, want := range map[string]int{"/v1/nope": http.StatusNotFound, "/v1/workers/list": http.StatusUnauthorized} {
		resp, err = http.Get("http://" + a.listen + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body api.ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != want || body.Error.Code == "" {
			t.Errorf("GET %s: %s %+v (decode: %v), want %d with an error body", path, resp.Status, body, err, want)
		}
	}
}

func TestHeartbeatsHonourQueenInterval(t *testing.T) {
	q := startQueen(t, "127.0.0.1:0")
	start := time.Now()
	a := startAgent(t, q.url(), "")

	first := q.waitBeats(t, 1, 3*time.Second)[0]
	if d := first.at.Sub(start); d > 3*time.Second {
		t.Errorf("first heartbeat came %v after start, want at once", d)
	}
	// The default interval is 5s: five beats in 1.5s only come if the
	// agent took the queen's 100ms.
	beats := q.waitBeats(t, 5, 1500*time.Millisecond)
	if d := beats[4].at.Sub(beats[0].at); d > 1500*time.Millisecond {
		t.Errorf("five beats took %v, want under 1.5s with a 100ms interval", d)
	}
	for i := 1; i < len(beats); i++ {
		if gap := beats[i].at.Sub(beats[i-1].at); gap < 40*time.Millisecond {
			t.Errorf("beats %d and %d came %v apart, faster than the 100ms interval allows", i-1, i, gap)
		}
	}
	for _, b := range beats {
		if b.path != "/v1/hives/gpu-1/heartbeat" || b.method != http.MethodPost {
			t.Errorf("heartbeat went to %s %s", b.method, b.path)
		}
		if b.auth != "Bearer "+a.token {
			t.Errorf("heartbeat Authorization is not the hive token")
		}
		want := api.HeartbeatRequest{AgentVersion: testVersion, PID: a.cmd.Process.Pid, Listen: a.listen}
		if b.body.AgentVersion != want.AgentVersion || b.body.PID != want.PID || b.body.Listen != want.Listen ||
			strings.Join(b.body.Capabilities, ",") != "cpu" {
			t.Errorf("heartbeat body %+v, want version %s pid %d listen %s capabilities [cpu]", b.body, want.AgentVersion, want.PID, want.Listen)
		}
		if b.body.StartedUnix < start.Unix()-1 || b.body.StartedUnix > time.Now().Unix() {
			t.Errorf("started_unix %d is not the agent's start (%d)", b.body.StartedUnix, start.Unix())
		}
	}
}

func TestTokenRejectedKeepsBeating(t *testing.T) {
	q := startQueen(t, "127.0.0.1:0")
	a := startAgent(t, q.url(), "")
	q.waitBeats(t, 2, 3*time.Second)

	q.status.Store(http.StatusUnauthorized)
	rejectedFrom := len(q.allBeats())
	a.waitOutput(t, "queen rejected the hive token", 3*time.Second)
	q.waitBeats(t, rejectedFrom+4, 3*time.Second) // still beating at the interval
	if a.exitedNow() {
		t.Fatalf("agent exited after the rejection:\n%s", a.stderr.String())
	}
	q.status.Store(http.StatusOK)
	a.waitOutput(t, "queen accepted the hive token again", 3*time.Second)

	out := a.stderr.String()
	if n := strings.Count(out, "queen rejected the hive token"); n != 1 {
		t.Errorf("rejection logged %d times, want once per streak:\n%s", n, out)
	}
	if !strings.Contains(out, "queen setup install --node gpu-1") {
		t.Errorf("rejection does not say to re-run the install:\n%s", out)
	}
}

func TestQueenDownThenUp(t *testing.T) {
	q := startQueen(t, "127.0.0.1:0")
	addr := q.addr
	a := startAgent(t, q.url(), "debug") // debug: count the failed beats, and check the token stays out of debug logs
	q.waitBeats(t, 2, 3*time.Second)

	q.srv.Close()
	a.waitOutput(t, "queen unreachable", 5*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(a.stderr.String(), `msg="heartbeat failed"`) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 failed beats in 10s while the queen was down:\n%s", a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(a.stderr.String(), "queen unreachable"); n != 1 {
		t.Errorf("outage warned %d times, want once:\n%s", n, a.stderr.String())
	}

	q2 := startQueen(t, addr)
	q2.waitBeats(t, 3, 5*time.Second)
	a.waitOutput(t, "queen reachable again", 3*time.Second)
	if b := q2.allBeats()[0]; b.body.PID != a.cmd.Process.Pid || b.auth != "Bearer "+a.token {
		t.Errorf("resumed beat: pid %d, want %d; token sent %v", b.body.PID, a.cmd.Process.Pid, b.auth == "Bearer "+a.token)
	}
}

func TestSignalStopsCleanly(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			q := startQueen(t, "127.0.0.1:0")
			a := startAgent(t, q.url(), "")
			pid := a.cmd.Process.Pid
			data, err := os.ReadFile(a.pidPath)
			if err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(pid) {
				t.Fatalf("pid file %s holds %q (%v), want %d", a.pidPath, data, err, pid)
			}
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || !strings.Contains(string(cmdline), "hive-agent") {
				t.Errorf("/proc/%d/cmdline = %q (%v), want it to name hive-agent", pid, cmdline, err)
			}

			sent := time.Now()
			if err := a.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-a.exited:
			case <-time.After(5 * time.Second):
				t.Fatalf("agent still running 5s after %v:\n%s", sig, a.stderr.String())
			}
			if code := a.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit code %d after %v, want 0:\n%s", code, sig, a.stderr.String())
			}
			t.Logf("stopped %v after %v", sig, time.Since(sent))
			if _, err := os.Stat(a.pidPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pid file still there after exit: %v", err)
			}
			if _, err := http.Get("http://" + a.listen + "/v1/health"); err == nil {
				t.Error("agent still answers health after exit")
			}
		})
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		set    map[string]any // fields replaced in a valid config
		drop   []string       // fields left out
		mode   os.FileMode    // 0: 0600
		noFile bool
		want   []string
	}{
		{name: "readable by others", mode: 0o644, want: []string{"mode 0644", "chmod 600"}},
		{name: "readable by group", mode: 0o640, want: []string{"mode 0640", "chmod 600"}},
		{name: "missing file", noFile: true, want: []string{"no such file", "--config"}},
		{name: "missing node_name", drop: []string{"node_name"}, want: []string{"node_name", "is required"}},
		{name: "missing hive_token", drop: []string{"hive_token"}, want: []string{"hive_token", "is required"}},
		{name: "missing queen_url", drop: []string{"queen_url"}, want: []string{"queen_url"}},
		{name: "queen_url not http", set: map[string]any{"queen_url": "ftp://10.0.0.1:7833"}, want: []string{"queen_url", "http://"}},
		{name: "listen without port", set: map[string]any{"listen": "0.0.0.0"}, want: []string{"invalid listen", `"0.0.0.0"`}},
		{name: "worker ports reversed", set: map[string]any{"worker_port_min": 9000, "worker_port_max": 8100}, want: []string{"worker_port_min"}},
		{name: "node_name not DNS-safe", set: map[string]any{"node_name": "GPU 1"}, want: []string{"node_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := newToken(t)
			cfg := map[string]any{"node_name": "gpu-1", "queen_url": "http://127.0.0.1:9", "hive_token": token, "listen": freeAddr(t)}
			maps.Copy(cfg, tt.set)
			for _, f := range tt.drop {
				delete(cfg, f)
			}
			mode := tt.mode
			if mode == 0 {
				mode = 0o600
			}
			path := filepath.Join(t.TempDir(), "rbee install", "hive-agent.json")
			if !tt.noFile {
				writeConfig(t, path, cfg, mode)
			}
			code, stdout, stderr := runAgent(t, token, "serve", "--config", path)
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
			}
			assertOneErrorLine(t, stderr)
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not contain %q", stderr, w)
				}
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), "run", "hive-agent.pid")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pid file written by an agent that refused to start: %v", err)
			}
		})
	}
}

func TestServeRefusesTakenAddress(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()
	token := newToken(t)
	path := filepath.Join(t.TempDir(), "hive-agent.json")
	writeConfig(t, path, map[string]any{"node_name": "gpu-1", "queen_url": "http://127.0.0.1:9", "hive_token": token, "listen": addr}, 0o600)

	code, _, stderr := runAgent(t, token, "serve", "--config", path)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
	}
	assertOneErrorLine(t, stderr)
	if !strings.Contains(stderr, "listen on "+addr) || !strings.Contains(stderr, "address already in use") {
		t.Errorf("stderr does not name the taken address %s: %q", addr, stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "run", "hive-agent.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file written although the address was taken: %v", err)
	}
}

func TestServeUsage(t *testing.T) {
	code, _, stderr := runAgent(t, "", "serve")
	if code != 2 || !strings.Contains(stderr, "--config") {
		t.Errorf("hive-agent serve without --config: exit %d, stderr %q; want 2 naming --config", code, stderr)
	}
}

// buildAgent builds the hive-agent binary once per test binary, stamped
// with testVersion.
func buildAgent(t testing.TB) string {
	t.Helper()
	return filepath.Join(gobuild.Binaries(t, gobuild.VersionFlag(testVersion), "."), "hive-agent")
}

// agent is a running `hive-agent serve`.
type agent struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan struct{}
	listen, token  string
	pidPath        string
	// configPath and config are the agent's config file and what it holds.
	configPath string
	config     map[string]any
}

// startAgent starts `hive-agent serve` against queenURL with a fresh token
// and listen address, at logLevel ("" for the default), and waits until it
// answers health. Cleanup kills it and checks that the token never showed
// in its output.
func startAgent(t *testing.T, queenURL, logLevel string) *agent {
	t.Helper()
	return startAgentWith(t, queenURL, logLevel, nil)
}

// startAgentWith is startAgent with extra config fields.
func startAgentWith(t *testing.T, queenURL, logLevel string, extra map[string]any) *agent {
	t.Helper()
	return startAgentIn(t, filepath.Join(t.TempDir(), "rbee install"), queenURL, logLevel, extra)
}

// startAgentIn is startAgentWith with the install path dir, which holds
// the config.
func startAgentIn(t *testing.T, dir, queenURL, logLevel string, extra map[string]any) *agent {
	t.Helper()
	a := &agent{
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{}),
		listen: freeAddr(t), token: newToken(t),
	}
	path := filepath.Join(dir, "hive-agent.json")
	a.pidPath = filepath.Join(filepath.Dir(path), "run", "hive-agent.pid")
	cfg := map[string]any{"node_name": "gpu-1", "queen_url": queenURL, "hive_token": a.token, "listen": a.listen}
	maps.Copy(cfg, extra)
	writeConfig(t, path, cfg, 0o600)
	a.configPath, a.config = path, cfg
	args := []string{"serve", "--config", path}
	if logLevel != "" {
		args = append(args, "--log-level", logLevel)
	}
	a.cmd = exec.Command(buildAgent(t), args...)
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		if !a.exitedNow() {
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
		assertNoToken(t, a.token, a.stdout.String()+a.stderr.String())
		if t.Failed() {
			t.Logf("agent stderr:\n%s", a.stderr.String())
		}
	})
	a.waitHealthy(t)
	return a
}

func (a *agent) exitedNow() bool {
	select {
	case <-a.exited:
		return true
	default:
		return false
	}
}

func (a *agent) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + a.listen + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if a.exitedNow() || time.Now().After(deadline) {
			t.Fatalf("agent not healthy on %s (exited %v):\n%s", a.listen, a.exitedNow(), a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOutput waits until the agent's stderr contains s.
func (a *agent) waitOutput(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(a.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("agent did not log %q within %v:\n%s", s, within, a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runAgent runs hive-agent to its end and returns its exit code and output,
// checking that token never shows in it.
func runAgent(t *testing.T, token string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(buildAgent(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, ok := errors.AsType[*exec.ExitError](err); err != nil && !ok {
		t.Fatalf("run hive-agent: %v", err)
	}
	if token != "" {
		assertNoToken(t, token, out.String()+errOut.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// beat is one heartbeat the test queen received.
type beat struct {
	at                 time.Time
	method, path, auth string
	body               api.HeartbeatRequest
}

// testQueen answers heartbeats with status (200 by default) and an
// interval of 100 ms, and records them.
type testQueen struct {
	srv    *httptest.Server
	addr   string
	status atomic.Int32
	mu     sync.Mutex
	beats  []beat
}

// startQueen starts a test queen on addr ("127.0.0.1:0" for any port).
func startQueen(t *testing.T, addr string) *testQueen {
	t.Helper()
	q := &testQueen{}
	q.status.Store(http.StatusOK)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen for the test queen on %s: %v", addr, err)
	}
	q.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(q.serve)}}
	q.srv.Start()
	q.addr = ln.Addr().String()
	t.Cleanup(q.srv.Close)
	return q
}

func (q *testQueen) url() string { return "http://" + q.addr }

func (q *testQueen) serve(w http.ResponseWriter, r *http.Request) {
	b := beat{at: time.Now(), method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization")}
	_ = json.NewDecoder(r.Body).Decode(&b.body)
	q.mu.Lock()
	q.beats = append(q.beats, b)
	q.mu.Unlock()
	status := int(q.status.Load())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusOK {
		_ = json.NewEncoder(w).Encode(api.HeartbeatResponse{IntervalMS: 100})
		return
	}
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{
		Code: api.CodeUnauthorized, Message: "hive token not valid for node gpu-1"}})
}

func (q *testQueen) allBeats() []beat {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]beat(nil), q.beats...)
}

// waitBeats waits until the queen has n beats and returns them.
func (q *testQueen) waitBeats(t *testing.T, n int, within time.Duration) []beat {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if b := q.allBeats(); len(b) >= n {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("test queen got %d heartbeats within %v, want %d", len(q.allBeats()), within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeConfig writes cfg (a map or an api.AgentConfig) as JSON with mode.
func writeConfig(t testing.TB, path string, cfg any, mode os.FileMode) {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is cut by the umask
		t.Fatal(err)
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newToken(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "hvt_" + hex.EncodeToString(b)
}

func assertNoToken(t *testing.T, token, output string) {
	t.Helper()
	if strings.Contains(output, token) {
		t.Errorf("the hive token appears in the agent's output")
	}
}

// assertOneErrorLine checks the failure contract: one line on stderr,
// "hive-agent: <what failed>; <next step>".
func assertOneErrorLine(t *testing.T, stderr string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "hive-agent: ") || !strings.HasSuffix(stderr, "\n") ||
		strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "; ") {
		t.Errorf("stderr is not one line `hive-agent: <what failed>; <next step>`: %q", stderr)
	}
}

// syncBuffer is a bytes.Buffer safe for exec's copying goroutine and the
// test.
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
