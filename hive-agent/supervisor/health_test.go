//go:build linux

package supervisor_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Bounds of the waits for health check results: many intervals, so a
// loaded machine does not fail the tests; the checks take well under one
// second when the machine is idle.
const (
	unhealthyWithin = 10 * time.Second
	restartWithin   = 15 * time.Second
)

// TestWedgedWorkerTurnsUnhealthyAndBack stops a ready worker with SIGSTOP:
// its health checks time out, it turns unhealthy (relayed, and no longer
// idle); SIGCONT makes it idle again, the same process.
func TestWedgedWorkerTurnsUnhealthyAndBack(t *testing.T) {
	t.Parallel()
	never := api.Backend{Name: "cpu-never", DeviceKind: api.BackendCPU, Restart: api.RestartNever, Command: workerArgv(workerBin(t))}
	f := newFixture(t, options{fastHealth: true, backends: []api.Backend{never}})
	w := f.spawn(t, "cpu-never")
	sigstop(t, w.PID)

	f.awaitState(t, w.ID, api.WorkerUnhealthy, unhealthyWithin)
	if ws := f.sup.List(); slices.ContainsFunc(ws, api.WorkerFilter{State: api.WorkerIdle}.Match) {
		t.Errorf("List = %v while the worker is wedged, want no idle worker", ids(ws))
	}
	f.awaitRelayed(t, w.ID, "update(idle)", "update(unhealthy)")

	if err := syscall.Kill(w.PID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	got := f.awaitState(t, w.ID, api.WorkerIdle, unhealthyWithin)
	if got.PID != w.PID || got.Restarts != 0 || got.SlotsAvailable != 1 || got.SlotsTotal != 1 {
		t.Errorf("worker after SIGCONT = %+v, want pid %d idle 1/1 without restarts", got, w.PID)
	}
	f.awaitRelayed(t, w.ID, "update(unhealthy)", "update(idle)")
}

// TestWedgedWorkerIsReplaced stops a ready worker of a backend with the
// default restart policy: once unhealthy long enough it is killed and
// started again under the same id.
func TestWedgedWorkerIsReplaced(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{fastHealth: true})
	w := f.spawn(t, "cpu")
	sigstop(t, w.PID)

	got := f.awaitRestarted(t, w.ID, 1)
	if got.PID == w.PID || got.URL != w.URL {
		t.Errorf("replacement = %+v, want a new pid at %s", got, w.URL)
	}
	if !processGone(w.PID) {
		t.Errorf("wedged worker %d still runs", w.PID)
	}
	f.awaitRelayed(t, w.ID, "update(idle)", "update(unhealthy)", "register(loading)", "update(idle)")
}

// TestCrashedWorkerRestartPolicy lets ready workers crash (--crash-after)
// under each restart policy.
func TestCrashedWorkerRestartPolicy(t *testing.T) {
	t.Parallel()
	crash := func(name, policy string, max int) api.Backend {
		return api.Backend{Name: name, DeviceKind: api.BackendCPU, Restart: policy, MaxRestarts: max,
			Command: workerArgv(workerBin(t), "--crash-after", "1s")}
	}
	tests := []struct {
		name         string
		backend      api.Backend
		wantRestarts int
	}{
		{name: "on-failure restarts up to max_restarts", backend: crash("crash-restart", api.RestartOnFailure, 2), wantRestarts: 2},
		{name: "default policy is on-failure", backend: crash("crash-default", "", 1), wantRestarts: 1},
		{name: "never leaves it failed", backend: crash("crash-never", api.RestartNever, 0), wantRestarts: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, options{backends: []api.Backend{tt.backend}})
			w := f.spawn(t, tt.backend.Name)
			got := f.awaitState(t, w.ID, api.WorkerFailed, restartWithin)
			f.awaitRelayed(t, w.ID, "update(failed)")
			if got.Restarts != tt.wantRestarts || got.ExitCode == nil || *got.ExitCode != 3 {
				t.Errorf("failed worker = %+v, want %d restarts and exit code 3", got, tt.wantRestarts)
			}
			want := []string{"register(loading)", "update(idle)"}
			for range tt.wantRestarts {
				want = append(want, "register(loading)", "update(idle)")
			}
			if got := f.relay.of(w.ID); !slices.Equal(append(want, "update(failed)"), got) {
				t.Errorf("relay saw %q, want %q", got, append(want, "update(failed)"))
			}
			var restarts []int
			for _, r := range f.relay.registered() {
				restarts = append(restarts, r.Restarts)
				if r.ID != w.ID || !processGone(r.PID) {
					t.Errorf("registered %s (pid %d): want worker %s, gone", r.ID, r.PID, w.ID)
				}
			}
			if want := seq(tt.wantRestarts); !slices.Equal(restarts, want) {
				t.Errorf("registers relayed restarts %v, want %v", restarts, want)
			}
		})
	}
}

// TestBusyFromHealth holds both slots of a worker with completions that
// take a while: the health checks relay it busy, then idle again.
func TestBusyFromHealth(t *testing.T) {
	t.Parallel()
	slow := api.Backend{Name: "slow", DeviceKind: api.BackendCPU,
		Command: workerArgv(workerBin(t), "--slots", "2", "--completion-delay", "1500ms")}
	f := newFixture(t, options{fastHealth: true, backends: []api.Backend{slow}})
	w := f.spawn(t, "slow")
	if w.SlotsTotal != 2 || w.SlotsAvailable != 2 {
		t.Fatalf("spawned %+v, want 2 of 2 slots free", w)
	}
	codes := make(chan int, 2)
	for range 2 {
		go func() { codes <- complete(w.URL) }()
	}
	busy := f.awaitState(t, w.ID, api.WorkerBusy, unhealthyWithin)
	if busy.SlotsAvailable != 0 || busy.SlotsTotal != 2 {
		t.Errorf("busy worker = %+v, want 0 of 2 slots free", busy)
	}
	for range 2 {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("completion answered %d, want 200", code)
		}
	}
	waitFor(t, unhealthyWithin, "worker idle with 2 of 2 slots free", func() bool {
		got := f.worker(w.ID)
		return got.State == api.WorkerIdle && got.SlotsAvailable == 2
	})
	f.awaitRelayed(t, w.ID, "update(idle)", "update(busy)", "update(idle)")
	for _, e := range f.relay.all() {
		if e.ID == w.ID && e.State == api.WorkerBusy && e.Worker.SlotsAvailable != 0 {
			t.Errorf("relayed busy with %d free slots", e.Worker.SlotsAvailable)
		}
	}
}

// TestHealthURLWithoutSlots checks a worker whose backend sets health_url,
// answered (as llama-server does) without slot fields: the checks go to
// that URL, and the worker keeps the slots of its spawn.
func TestHealthURLWithoutSlots(t *testing.T) {
	t.Parallel()
	var checks atomic.Int32
	health := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		checks.Add(1)
		rw.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(health.Close)
	bin := workerBin(t)
	llama := api.Backend{Name: "llama-like", DeviceKind: api.BackendCPU, SlotsTotal: 3, HealthURL: health.URL + "/health?port={port}",
		Command: []string{bin, "--worker-id", "{worker_id}", "--model-ref", "{model_ref}",
			"--backend", "{backend}", "--device", "{device}", "--port", "{port}"}}
	f := newFixture(t, options{fastHealth: true, backends: []api.Backend{llama}})
	w := f.spawn(t, "llama-like")
	waitFor(t, unhealthyWithin, "4 health checks at the backend's health_url", func() bool { return checks.Load() >= 4 })
	if got := f.worker(w.ID); got.State != api.WorkerIdle || got.SlotsTotal != 3 || got.SlotsAvailable != 3 {
		t.Errorf("worker = %+v, want idle with its spawn's 3 of 3 slots", got)
	}
}

// complete POSTs a completion to the worker at url and returns the status,
// 0 when there was no answer.
func complete(url string) int {
	resp, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"hold the slot"}`))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sigstop stops process pid; it continues at the end of the test, so that
// the fixture's clean-up can stop it.
func sigstop(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
}

// awaitState waits until worker id is listed in state and returns it.
func (f *fixture) awaitState(t *testing.T, id, state string, within time.Duration) api.Worker {
	t.Helper()
	var got api.Worker
	waitFor(t, within, "worker "+id+" "+state, func() bool {
		got = f.worker(id)
		return got.State == state
	})
	return got
}

// awaitRestarted waits until worker id is idle after its n-th restart.
func (f *fixture) awaitRestarted(t *testing.T, id string, n int) api.Worker {
	t.Helper()
	var got api.Worker
	waitFor(t, restartWithin, "worker "+id+" restarted and idle", func() bool {
		got = f.worker(id)
		return got.Restarts == n && got.State == api.WorkerIdle
	})
	return got
}

// awaitRelayed waits until the relay got the events want of worker id, in
// this order (a change is listed a moment before it is relayed).
func (f *fixture) awaitRelayed(t *testing.T, id string, want ...string) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("relay events %q of worker %s (saw %q)", want, id, f.relay.of(id)), func() bool {
		return f.relay.saw(id, want...)
	})
}

// worker returns the listed worker id, or a zero one.
func (f *fixture) worker(id string) api.Worker {
	ws := f.sup.List()
	if i := slices.IndexFunc(ws, func(w api.Worker) bool { return w.ID == id }); i >= 0 {
		return ws[i]
	}
	return api.Worker{}
}

// saw reports whether the relay got the events want of worker id in this
// order, maybe with others between them.
func (r *recordingRelay) saw(id string, want ...string) bool {
	got := r.of(id)
	for _, w := range want {
		i := slices.Index(got, w)
		if i < 0 {
			return false
		}
		got = got[i+1:]
	}
	return true
}

// seq returns 0, 1, …, n.
func seq(n int) []int {
	out := make([]int, n+1)
	for i := range out {
		out[i] = i
	}
	return out
}
