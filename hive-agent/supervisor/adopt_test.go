//go:build linux

package supervisor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/hive-agent/server"
	"github.com/rbee-fleet/rbee/hive-agent/supervisor"
	"github.com/rbee-fleet/rbee/shared/api"
)

// The adoption tests run the previous agent as a real process (this test
// binary in helper mode) and kill it with SIGKILL, as a crashed or killed
// agent: its workers live on in their own process groups, re-parented to
// this test process (a child subreaper) or to init.

// helperEnv carries a helperConfig (JSON) to this binary in helper mode.
const helperEnv = "RBEE_SUPERVISOR_TEST_HELPER"

// helperConfig is what a helper agent runs.
type helperConfig struct {
	PortMin, PortMax   int
	StateFile, LogDir  string
	Backends           []api.Backend
	Spawns             []string // backends to spawn, in order, waiting until each is ready
	BackgroundBackends []string // backends to spawn without waiting, after Spawns
}

// helperEvent is one line the helper agent prints.
type helperEvent struct {
	Event   string     `json:"event"` // register, ready, error
	Worker  api.Worker `json:"worker"`
	Message string     `json:"message,omitempty"`
}

// runHelperAgent is a minimal hive agent: a supervisor with the real ready
// route that spawns the configured workers, prints each register and ready
// as a line of JSON, and waits until it is killed. If its stdin closes (the
// test binary died) it stops its workers and exits.
func runHelperAgent(cfgJSON string) int {
	var hc helperConfig
	if err := json.Unmarshal([]byte(cfgJSON), &hc); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		return 2
	}
	out := &helperOut{enc: json.NewEncoder(os.Stdout)}
	srv := httptest.NewUnstartedServer(nil)
	sup := supervisor.New(supervisor.Config{
		Node: "node-1", Backends: hc.Backends, PortMin: hc.PortMin, PortMax: hc.PortMax,
		CallbackURL: "http://" + srv.Listener.Addr().String() + "/v1/workers/ready",
		StateFile:   hc.StateFile, LogDir: hc.LogDir, Relay: out, StopGrace: testGrace,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	srv.Config.Handler = server.Handler(server.Config{Workers: sup})
	srv.Start()
	ctx := context.Background()
	if _, _, err := sup.Adopt(ctx); err != nil {
		out.print(helperEvent{Event: "error", Message: err.Error()})
		return 1
	}
	for _, b := range hc.Spawns {
		w, err := sup.Spawn(ctx, api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: b})
		if err != nil {
			out.print(helperEvent{Event: "error", Message: err.Error()})
			sup.StopAll(ctx)
			return 1
		}
		out.print(helperEvent{Event: "ready", Worker: w})
	}
	for _, b := range hc.BackgroundBackends {
		go func() {
			_, _ = sup.Spawn(ctx, api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: b, ReadyTimeoutMS: 60000})
		}()
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	sup.StopAll(ctx)
	return 0
}

// helperOut prints the helper's events; it is also its relay.
type helperOut struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (h *helperOut) print(e helperEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	_ = h.enc.Encode(e)
}

func (h *helperOut) Register(_ context.Context, w api.Worker) error {
	h.print(helperEvent{Event: "register", Worker: w})
	return nil
}

func (h *helperOut) Update(context.Context, api.UpdateWorkerRequest, api.Worker) error { return nil }

func (h *helperOut) Remove(context.Context, string) error { return nil }

// helperAgent is a running helper agent.
type helperAgent struct {
	cmd    *exec.Cmd
	events chan helperEvent
	stdin  io.WriteCloser
	stderr *lockedBuffer
}

// startHelperAgent starts a helper agent on f's port range, state file and
// backends, and has it spawn workers.
func startHelperAgent(t *testing.T, f *fixture, spawns, background []string) *helperAgent {
	t.Helper()
	cfg, err := json.Marshal(helperConfig{
		PortMin: f.cfg.PortMin, PortMax: f.cfg.PortMax, StateFile: f.cfg.StateFile, LogDir: f.cfg.LogDir,
		Backends: f.cfg.Backends, Spawns: spawns, BackgroundBackends: background,
	})
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &helperAgent{cmd: exec.Command(exe, "-test.run=^$"), events: make(chan helperEvent, 100), stderr: &lockedBuffer{}}
	h.cmd.Env = append(os.Environ(), helperEnv+"="+string(cfg))
	h.cmd.Stderr = h.stderr
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(h.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e helperEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err == nil {
				h.events <- e
			}
		}
	}()
	t.Cleanup(func() {
		h.stdin.Close() // a helper still running stops its workers and exits
		_ = h.cmd.Wait()
		if t.Failed() {
			t.Logf("helper agent output:\n%s", h.stderr.String())
		}
	})
	return h
}

// await returns the next n events of kind, failing on an error event.
func (h *helperAgent) await(t *testing.T, kind string, n int) []api.Worker {
	t.Helper()
	var out []api.Worker
	timeout := time.After(15 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-h.events:
			if !ok {
				t.Fatalf("helper agent ended before %d %s events:\n%s", n, kind, h.stderr.String())
			}
			if e.Event == "error" {
				t.Fatalf("helper agent: %s\n%s", e.Message, h.stderr.String())
			}
			if e.Event == kind {
				out = append(out, e.Worker)
			}
		case <-timeout:
			t.Fatalf("helper agent: %d of %d %s events within 15s:\n%s", len(out), n, kind, h.stderr.String())
		}
	}
	return out
}

// kill9 kills the helper agent with SIGKILL and waits until it is gone; its
// workers are left running.
func (h *helperAgent) kill9(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait()
}

func TestAdoptTakesOverRunningWorkers(t *testing.T) {
	t.Parallel()
	b := newFixture(t, options{noAdopt: true})
	prev := startHelperAgent(t, b, []string{"cpu", "cpu", "cpu"}, nil)
	ws := prev.await(t, "ready", 3)
	orphans(t, ws...)
	prev.kill9(t)
	kept, dead, stopped := ws[0], ws[1], ws[2]
	for _, w := range ws {
		if err := syscall.Kill(w.PID, 0); err != nil {
			t.Fatalf("worker %s (pid %d) did not outlive its agent: %v", w.ID, w.PID, err)
		}
	}
	// One worker dies while no agent runs.
	if err := syscall.Kill(dead.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	reap(t, dead.PID)

	adopted, ended, err := b.sup.Adopt(t.Context())
	if err != nil || adopted != 2 || ended != 0 {
		t.Fatalf("Adopt = %d adopted, %d ended, %v; want 2, 0", adopted, ended, err)
	}
	list := b.sup.List()
	want := []api.Worker{kept, stopped}
	slices.SortFunc(want, func(a, b api.Worker) int { return strings.Compare(a.ID, b.ID) })
	if len(list) != 2 || list[0].ID != want[0].ID || list[0].PID != want[0].PID || list[0].State != api.WorkerIdle ||
		list[1].ID != want[1].ID || list[1].PID != want[1].PID || list[1].URL != want[1].URL {
		t.Fatalf("List = %+v\nwant %+v", list, want)
	}
	for _, w := range []api.Worker{kept, stopped} {
		if got := b.relay.of(w.ID); !slices.Equal(got, []string{"register(idle)"}) {
			t.Errorf("relay of the new agent saw %q for %s, want register(idle)", got, w.ID)
		}
	}
	if got := b.relay.of(dead.ID); len(got) != 0 {
		t.Errorf("relay saw %q for the worker that died, want nothing", got)
	}
	if saved := savedWorkers(t, b.cfg.StateFile); len(saved) != 2 {
		t.Errorf("state file lists %v, want the 2 adopted workers", ids(saved))
	}
	// The adopted workers' ports stay theirs.
	if w := b.spawn(t, "cpu"); port(t, w.URL) == port(t, kept.URL) || port(t, w.URL) == port(t, stopped.URL) {
		t.Errorf("new worker got port %d of an adopted one", port(t, w.URL))
	}

	// An adopted worker is no child of the agent: it is polled, and
	// restarted under its id when it dies.
	if err := syscall.Kill(kept.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "killed adopted worker restarted and ready", func() bool {
		i := slices.IndexFunc(b.sup.List(), func(w api.Worker) bool { return w.ID == kept.ID })
		return i >= 0 && b.sup.List()[i].Restarts == 1 && b.sup.List()[i].State == api.WorkerIdle
	})
	b.awaitRelayed(t, kept.ID, "register(idle)", "register(loading)", "update(idle)")
	if got := b.relay.of(kept.ID); len(got) != 3 {
		t.Errorf("relay saw %q for the killed adopted worker, want register(idle), register(loading), update(idle)", got)
	}
	reap(t, kept.PID)

	// And it can be stopped.
	if _, err := b.sup.Stop(t.Context(), stopped.ID); err != nil {
		t.Fatal(err)
	}
	if !b.relay.removed(stopped.ID) {
		t.Errorf("relay saw %q for the stopped adopted worker, want a remove last", b.relay.of(stopped.ID))
	}
	reap(t, stopped.PID)
}

func TestAdoptEndsLoadingWorker(t *testing.T) {
	t.Parallel()
	b := newFixture(t, options{noAdopt: true})
	prev := startHelperAgent(t, b, nil, []string{"never-ready"})
	w := prev.await(t, "register", 1)[0]
	orphans(t, w)
	prev.kill9(t)
	if err := syscall.Kill(w.PID, 0); err != nil {
		t.Fatalf("loading worker (pid %d) did not outlive its agent: %v", w.PID, err)
	}
	if saved := savedWorkers(t, b.cfg.StateFile); len(saved) != 1 || saved[0].State != api.WorkerLoading {
		t.Fatalf("state file of the previous agent lists %v, want the loading worker", ids(saved))
	}

	adopted, ended, err := b.sup.Adopt(t.Context())
	if err != nil || adopted != 0 || ended != 1 {
		t.Fatalf("Adopt = %d adopted, %d ended, %v; want 0, 1", adopted, ended, err)
	}
	ws := reap(t, w.PID)
	switch {
	case !subreaper:
		t.Log("this process is no child subreaper: how the worker ended is not checked")
	case !ws.Signaled() || ws.Signal() != syscall.SIGKILL:
		t.Errorf("loading worker ended with status %#x, want SIGKILL", int(ws))
	}
	if list := b.sup.List(); len(list) != 0 {
		t.Errorf("List = %v, want none", ids(list))
	}
	if evs := b.relay.all(); len(evs) != 0 {
		t.Errorf("relay saw %v, want nothing", evs)
	}
	if saved := savedWorkers(t, b.cfg.StateFile); len(saved) != 0 {
		t.Errorf("state file still lists %v", ids(saved))
	}
}

func TestAdoptWithoutState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		state string // "" writes no state file
	}{
		{name: "no state file"},
		{name: "unreadable state file", state: "{not json"},
		{name: "empty list", state: "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, options{noAdopt: true})
			if tt.state != "" {
				if err := os.MkdirAll(filepath.Dir(f.cfg.StateFile), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f.cfg.StateFile, []byte(tt.state), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			adopted, ended, err := f.sup.Adopt(t.Context())
			if err != nil || adopted != 0 || ended != 0 {
				t.Errorf("Adopt = %d, %d, %v; want 0, 0, nil", adopted, ended, err)
			}
			if _, err := os.Stat(f.cfg.LogDir); err != nil {
				t.Errorf("Adopt did not create the log folder: %v", err)
			}
		})
	}
}

// orphans makes sure the workers of a killed helper agent end with the
// test, and are reaped if they became this process's children.
func orphans(t *testing.T, ws ...api.Worker) {
	t.Helper()
	for _, w := range ws {
		t.Cleanup(func() {
			_ = syscall.Kill(-w.PID, syscall.SIGKILL)
			reap(t, w.PID)
			if !processGone(w.PID) {
				t.Errorf("worker %d of the killed agent still runs", w.PID)
			}
		})
	}
}

// reap waits until pid is gone, reaping it when it is this process's child
// (an orphan re-parented to the subreaper), and returns how it ended (zero
// when it was not ours or was reaped before).
func reap(t *testing.T, pid int) syscall.WaitStatus {
	t.Helper()
	var ws syscall.WaitStatus
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid {
			return ws
		}
		if err != nil && processGone(pid) { // ECHILD: not ours, or reaped already
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("process %d did not end within 5s", pid)
	return 0
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
