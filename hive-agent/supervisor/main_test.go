//go:build linux

// The supervisor reads /proc, so its tests run on Linux only.

package supervisor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/hive-agent/server"
	"github.com/rbee-fleet/rbee/hive-agent/supervisor"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
)

// testGrace is the SIGTERM grace of the test supervisors.
const testGrace = 500 * time.Millisecond

// subreaper is true when this test process adopts the orphans of its
// children (PR_SET_CHILD_SUBREAPER): the workers of a helper agent killed
// with SIGKILL become ours, so the adoption tests can reap them and see how
// they ended.
var subreaper bool

func TestMain(m *testing.M) {
	if cfg := os.Getenv(helperEnv); cfg != "" {
		os.Exit(runHelperAgent(cfg))
	}
	const prSetChildSubreaper = 36
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	subreaper = errno == 0
	code := m.Run()
	gobuild.Cleanup()
	os.Exit(code)
}

// workerBin returns the reference worker, built once per test binary.
func workerBin(t *testing.T) string {
	t.Helper()
	return filepath.Join(gobuild.Binaries(t, "", "../rbee-worker"), "rbee-worker")
}

// workerArgv is the argv template of install's default backends
// (queen/install DefaultBackends) for bin, with extra flags appended.
func workerArgv(bin string, extra ...string) []string {
	argv := []string{bin, "--worker-id", "{worker_id}", "--model-ref", "{model_ref}",
		"--backend", "{backend}", "--device", "{device}", "--port", "{port}", "--callback-url", "{callback_url}"}
	return append(argv, extra...)
}

// testBackends are the default cpu and cuda backends plus fault-injecting
// ones, all run by the reference worker at bin. goDir is where a
// slow-start worker waits for its go file.
func testBackends(bin, goDir string) []api.Backend {
	return []api.Backend{
		{Name: api.BackendCPU, Command: workerArgv(bin)},
		{Name: api.BackendCUDA, Command: workerArgv(bin)},
		{Name: "never-ready", DeviceKind: api.BackendCPU, Command: workerArgv(bin, "--never-ready")},
		{Name: "crash", DeviceKind: api.BackendCPU, Command: workerArgv(bin, "--never-ready", "--crash-after", "300ms")},
		{Name: "ignore-sigterm", DeviceKind: api.BackendCPU, Command: workerArgv(bin, "--ignore-sigterm")},
		// Ready by health poll: no callback URL, so the worker never calls back.
		{Name: "polled", DeviceKind: api.BackendCPU, SlotsTotal: 3, HealthURL: "http://127.0.0.1:{port}/health",
			Command: []string{bin, "--worker-id", "{worker_id}", "--model-ref", "{model_ref}",
				"--backend", "{backend}", "--device", "{device}", "--port", "{port}"}},
		// Commands that are not installed: one elsewhere, and the reference
		// worker of the install path (the fixture's goDir).
		{Name: "missing", DeviceKind: api.BackendCPU, Command: workerArgv("/nonexistent/rbee-worker")},
		{Name: "uninstalled", DeviceKind: api.BackendCPU, Command: workerArgv(filepath.Join(goDir, "bin", "rbee-worker"))},
		// Runs the worker (which binds its port) only once the file
		// <goDir>/<worker id>.go exists: a test can take the port first, as
		// another program could between the agent's check and the bind.
		{Name: "slow-start", DeviceKind: api.BackendCPU,
			Command: append([]string{"/bin/sh", "-c", `while [ ! -e "$1" ]; do sleep 0.02; done; shift; exec "$@"`,
				"slow-start", filepath.Join(goDir, "{worker_id}.go")}, workerArgv(bin)...)},
	}
}

// fixture is one supervisor with a real ready callback server and a
// recording relay.
type fixture struct {
	sup      *supervisor.Supervisor
	relay    *recordingRelay
	cfg      supervisor.Config
	callback string // the ready callback URL
	bin      string
	goDir    string // see the slow-start backend
}

// options change a fixture's set-up.
type options struct {
	ports   int // size of the port range; 0 means 20
	devices func(context.Context) api.Devices
	// onRegister runs inside the relay's Register, before it returns.
	onRegister func(api.Worker)
	// noAdopt leaves the call of Adopt (which the agent makes before it
	// serves spawns) to the test.
	noAdopt bool
	// fastHealth checks worker health every healthInterval with a
	// healthTimeout, instead of the defaults (5 s, 2 s).
	fastHealth bool
	// backends are added to the test backends.
	backends []api.Backend
}

// The health checks of a fixture with fastHealth.
const (
	healthInterval = 100 * time.Millisecond
	healthTimeout  = 300 * time.Millisecond
)

// newFixture starts a supervisor on free ports with the test backends; at
// the end of the test it stops every worker and checks that every process
// the relay saw is gone.
func newFixture(t *testing.T, opt options) *fixture {
	t.Helper()
	bin := workerBin(t)
	dir := t.TempDir()
	lo, hi := freePortRange(t, cmpOr(opt.ports, 20))
	rl := &recordingRelay{onRegister: opt.onRegister}
	srv := httptest.NewUnstartedServer(nil)
	callback := "http://" + srv.Listener.Addr().String() + "/v1/workers/ready"
	cfg := supervisor.Config{
		Node:        "node-1",
		Backends:    testBackends(bin, dir),
		PortMin:     lo,
		PortMax:     hi,
		CallbackURL: callback,
		StateFile:   filepath.Join(dir, "run", "workers.json"),
		LogDir:      filepath.Join(dir, "logs"),
		InstallPath: dir,
		Devices:     opt.devices,
		Relay:       rl,
		Log:         slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		StopGrace:   testGrace,
		// Restarts come quickly, and the tests see them one after another.
		RestartBackoff: 50 * time.Millisecond,
	}
	cfg.Backends = append(cfg.Backends, opt.backends...)
	if opt.fastHealth {
		cfg.HealthInterval, cfg.HealthTimeout = healthInterval, healthTimeout
	}
	sup := supervisor.New(cfg)
	srv.Config.Handler = server.Handler(server.Config{Workers: sup})
	srv.Start()
	t.Cleanup(srv.Close)
	f := &fixture{sup: sup, relay: rl, cfg: cfg, callback: callback, bin: bin, goDir: dir}
	t.Cleanup(func() { f.stopAllAndCheck(t) })
	if !opt.noAdopt {
		if adopted, ended, err := sup.Adopt(t.Context()); err != nil || adopted+ended != 0 {
			t.Fatalf("Adopt on a fresh state file = %d, %d, %v", adopted, ended, err)
		}
	}
	return f
}

// stopAllAndCheck stops every worker, then fails the test for any process
// the relay registered that still runs (and kills it).
func (f *fixture) stopAllAndCheck(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testGrace+5*time.Second)
	defer cancel()
	f.sup.StopAll(ctx)
	if ws := f.sup.List(); len(ws) != 0 {
		t.Errorf("after StopAll, List = %v, want none", ids(ws))
	}
	for _, pid := range f.relay.pids() {
		if !processGone(pid) {
			t.Errorf("worker process %d still runs after StopAll; killing it", pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

// spawn spawns a worker of backend and fails the test if it is not idle.
func (f *fixture) spawn(t *testing.T, backend string) api.Worker {
	t.Helper()
	w, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: backend})
	if err != nil {
		t.Fatalf("spawn %s: %v", backend, err)
	}
	if w.State != api.WorkerIdle || w.PID <= 0 {
		t.Fatalf("spawn %s = %+v, want an idle worker with a pid", backend, w)
	}
	return w
}

// port returns the port of a worker URL.
func port(t *testing.T, url string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("worker url %q has no port", url)
	}
	return n
}

// relayEvent is one call a recordingRelay got.
type relayEvent struct {
	Op     string // register, update or remove
	ID     string
	State  string // the worker's state; "" for remove
	Worker api.Worker
}

func (e relayEvent) String() string {
	if e.State == "" {
		return e.Op + " " + e.ID
	}
	return e.Op + "(" + e.State + ") " + e.ID
}

// recordingRelay records the relay calls in order.
type recordingRelay struct {
	onRegister func(api.Worker)

	mu     sync.Mutex
	events []relayEvent
}

var _ supervisor.Relay = (*recordingRelay)(nil)

func (r *recordingRelay) Register(_ context.Context, w api.Worker) error {
	if r.onRegister != nil {
		r.onRegister(w)
	}
	r.add(relayEvent{Op: "register", ID: w.ID, State: w.State, Worker: w})
	return nil
}

func (r *recordingRelay) Update(_ context.Context, u api.UpdateWorkerRequest, full api.Worker) error {
	r.add(relayEvent{Op: "update", ID: u.ID, State: u.State, Worker: full})
	return nil
}

func (r *recordingRelay) Remove(_ context.Context, id string) error {
	r.add(relayEvent{Op: "remove", ID: id})
	return nil
}

func (r *recordingRelay) add(e relayEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// all returns the events so far.
func (r *recordingRelay) all() []relayEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relayEvent(nil), r.events...)
}

// of returns the events of worker id, as "op(state)" strings.
func (r *recordingRelay) of(id string) []string {
	var out []string
	for _, e := range r.all() {
		if e.ID == id {
			out = append(out, strings.TrimSuffix(e.String(), " "+id))
		}
	}
	return out
}

// removed reports whether worker id was relayed as removed.
func (r *recordingRelay) removed(id string) bool {
	evs := r.of(id)
	return len(evs) > 0 && evs[len(evs)-1] == "remove"
}

// registered returns the workers relayed as registered, in order.
func (r *recordingRelay) registered() []api.Worker {
	var out []api.Worker
	for _, e := range r.all() {
		if e.Op == "register" {
			out = append(out, e.Worker)
		}
	}
	return out
}

// pids returns the pids of every registered worker.
func (r *recordingRelay) pids() []int {
	var out []int
	for _, w := range r.registered() {
		out = append(out, w.PID)
	}
	return out
}

// awaitRegistered waits for the n-th register and returns that worker.
func (r *recordingRelay) awaitRegistered(t *testing.T, n int) api.Worker {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("register #%d relayed", n), func() bool { return len(r.registered()) >= n })
	return r.registered()[n-1]
}

// wantSpawnError checks that err is a *supervisor.Error with status and
// code whose message holds every one of parts.
func wantSpawnError(t *testing.T, err error, status int, code string, parts ...string) *supervisor.Error {
	t.Helper()
	se, ok := errors.AsType[*supervisor.Error](err)
	if !ok {
		t.Fatalf("error = %v (%T), want a *supervisor.Error %d %s", err, err, status, code)
	}
	if se.Status != status || se.Detail.Code != code {
		t.Errorf("error = %d %s %q, want %d %s", se.Status, se.Detail.Code, se.Detail.Message, status, code)
	}
	for _, p := range parts {
		if !strings.Contains(se.Detail.Message, p) {
			t.Errorf("message %q does not contain %q", se.Detail.Message, p)
		}
	}
	if se.Detail.Hint == "" {
		t.Errorf("error %s has no hint", se.Detail.Code)
	}
	return se
}

// savedWorkers returns the workers in the state file; the file must be
// private (0600).
func savedWorkers(t *testing.T, file string) []api.Worker {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, want 0600", st.Mode().Perm())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var saved []struct {
		Worker api.Worker `json:"worker"`
	}
	if err := json.Unmarshal(data, &saved); err != nil {
		t.Fatalf("state file is not a JSON list: %v\n%s", err, data)
	}
	out := make([]api.Worker, len(saved))
	for i, s := range saved {
		out[i] = s.Worker
	}
	return out
}

func ids(ws []api.Worker) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID + "(" + w.State + ")"
	}
	return out
}

// waitFor polls cond until it holds, or fails the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// processGone reports whether pid no longer runs: no such process, or a
// zombie nobody reaped yet (kill -0 succeeds on those).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && len(data) > i+2 && (data[i+2] == 'Z' || data[i+2] == 'X')
}

// procStrings returns the NUL-separated strings of /proc/<pid>/<file>
// (cmdline, environ).
func procStrings(t *testing.T, pid int, file string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + file)
	if err != nil {
		t.Fatalf("read %s of worker %d: %v", file, pid, err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
}

var (
	portsMu  sync.Mutex
	nextPort = 20000 + rand.IntN(10000) // below Linux's ephemeral range (32768–)
)

// freePortRange returns n consecutive ports that are free now and that no
// other test of this binary gets.
func freePortRange(t *testing.T, n int) (lo, hi int) {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for tries := 0; tries < 50; tries++ {
		start := nextPort
		if start+n > 32000 {
			start = 20000
		}
		nextPort = start + n
		if allFree(start, n) {
			return start, start + n - 1
		}
	}
	t.Fatalf("no %d free consecutive ports found", n)
	return 0, 0
}

func allFree(start, n int) bool {
	for p := start; p < start+n; p++ {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// holdPort listens on 127.0.0.1:port until the test ends or release is
// called.
func holdPort(t *testing.T, port int) (release func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("hold port %d: %v", port, err)
	}
	var once sync.Once
	release = func() { once.Do(func() { ln.Close() }) }
	t.Cleanup(release)
	return release
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func intp(i int) *int { return &i }
