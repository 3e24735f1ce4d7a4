//go:build linux

package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/hive-agent/devices"
	"github.com/rbee-fleet/rbee/hive-agent/supervisor"
	"github.com/rbee-fleet/rbee/shared/api"
)

func TestSpawnCPUWorker(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	// No backend: cpu.
	w, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny"})
	if err != nil {
		t.Fatal(err)
	}
	wantURL := fmt.Sprintf("http://127.0.0.1:%d", f.cfg.PortMin)
	if w.State != api.WorkerIdle || w.URL != wantURL || w.Node != "node-1" || w.ModelRef != "hf:test/tiny" ||
		w.Backend != api.BackendCPU || w.Device != 0 || w.SlotsTotal != 1 || w.SlotsAvailable != 1 ||
		w.PID <= 0 || w.ExitCode != nil || !strings.HasPrefix(w.ID, "w-") {
		t.Fatalf("spawned worker = %+v, want an idle cpu worker of node-1 at %s", w, wantURL)
	}
	if err := syscall.Kill(w.PID, 0); err != nil {
		t.Errorf("worker pid %d: %v", w.PID, err)
	}
	if pgid, err := syscall.Getpgid(w.PID); err != nil || pgid != w.PID {
		t.Errorf("worker %d is in process group %d (%v), want its own", w.PID, pgid, err)
	}
	wantArgv := []string{f.bin, "--worker-id", w.ID, "--model-ref", "hf:test/tiny", "--backend", "cpu",
		"--device", "0", "--port", strconv.Itoa(f.cfg.PortMin), "--callback-url", f.callback}
	if got := procStrings(t, w.PID, "cmdline"); !slices.Equal(got, wantArgv) {
		t.Errorf("worker argv = %q\nwant %q", got, wantArgv)
	}
	if code := httpGet(t, w.URL+"/health"); code != http.StatusOK {
		t.Errorf("GET %s/health = %d, want 200", w.URL, code)
	}
	if got, want := f.relay.of(w.ID), []string{"register(loading)", "update(idle)"}; !slices.Equal(got, want) {
		t.Errorf("relay saw %q, want %q", got, want)
	}
	if reg := f.relay.registered()[0]; reg.PID != w.PID || reg.URL != w.URL || reg.Node != "node-1" {
		t.Errorf("registered %+v, want pid %d at %s", reg, w.PID, w.URL)
	}
	if got := f.sup.List(); len(got) != 1 || !reflect.DeepEqual(got[0], w) {
		t.Errorf("List = %+v, want [%+v]", got, w)
	}
	saved := savedWorkers(t, f.cfg.StateFile)
	if len(saved) != 1 || saved[0].ID != w.ID || saved[0].State != api.WorkerIdle || saved[0].PID != w.PID {
		t.Errorf("state file lists %+v, want %s idle with pid %d", saved, w.ID, w.PID)
	}
}

func TestSpawnReadyByHealthPoll(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	w := f.spawn(t, "polled")
	if w.SlotsTotal != 3 || w.SlotsAvailable != 3 {
		t.Errorf("worker ready by health poll has %d/%d slots, want the backend's 3/3", w.SlotsAvailable, w.SlotsTotal)
	}
	if got, want := f.relay.of(w.ID), []string{"register(loading)", "update(idle)"}; !slices.Equal(got, want) {
		t.Errorf("relay saw %q, want %q", got, want)
	}
}

// TestSpawnDeviceChecks runs devices.Detect against a fake nvidia-smi on
// PATH, as the agent does; it sets PATH, so it does not run in parallel.
func TestSpawnDeviceChecks(t *testing.T) {
	gpuDir, emptyDir := t.TempDir(), t.TempDir()
	_, err := devices.WriteFakeNvidiaSMI(gpuDir, []api.GPU{
		{Index: 0, Name: "NVIDIA A10", MemoryTotalByte: 24 << 30, MemoryFreeByte: 2 << 30},
		{Index: 1, Name: "NVIDIA A10", MemoryTotalByte: 24 << 30, MemoryFreeByte: 20 << 30},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, options{devices: func(ctx context.Context) api.Devices { return devices.Detect(ctx, nil) }})
	spawn := func(t *testing.T, backend string, device *int) (api.Worker, error) {
		return f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: backend, Device: device})
	}
	withGPUs := func(t *testing.T) { t.Setenv("PATH", gpuDir+string(os.PathListSeparator)+os.Getenv("PATH")) }

	t.Run("cpu has device 0 only", func(t *testing.T) {
		_, err := spawn(t, "cpu", intp(1))
		wantSpawnError(t, err, http.StatusUnprocessableEntity, api.CodeDeviceUnavailable,
			"device 1 not available for backend cpu on node-1; available: [0]")
	})
	t.Run("cuda without nvidia-smi", func(t *testing.T) {
		t.Setenv("PATH", emptyDir)
		_, err := spawn(t, "cuda", nil)
		se := wantSpawnError(t, err, http.StatusUnprocessableEntity, api.CodeDeviceUnavailable,
			"no GPU for backend cuda on node-1: no NVIDIA GPU found by nvidia-smi", "available: [cpu]")
		if !strings.Contains(se.Detail.Hint, "install the NVIDIA driver") {
			t.Errorf("hint %q does not say to install the driver", se.Detail.Hint)
		}
	})
	t.Run("cuda device 1 of 2", func(t *testing.T) {
		withGPUs(t)
		w, err := spawn(t, "cuda", intp(1))
		if err != nil {
			t.Fatal(err)
		}
		if w.Backend != "cuda" || w.Device != 1 || w.State != api.WorkerIdle {
			t.Errorf("spawned %+v, want an idle cuda worker on device 1", w)
		}
		argv := strings.Join(procStrings(t, w.PID, "cmdline"), " ")
		if !strings.Contains(argv, " --backend cuda --device 1 ") {
			t.Errorf("worker argv %q does not pass --backend cuda --device 1", argv)
		}
		stop(t, f, w.ID)
	})
	t.Run("cuda device 5 of 2", func(t *testing.T) {
		withGPUs(t)
		_, err := spawn(t, "cuda", intp(5))
		se := wantSpawnError(t, err, http.StatusUnprocessableEntity, api.CodeDeviceUnavailable,
			"device 5 not available on node-1; available: [0, 1]")
		if se.Detail.Hint != "try --device 0 or --device 1" {
			t.Errorf("hint = %q, want the devices to try", se.Detail.Hint)
		}
	})
	t.Run("cuda picks the GPU with the most free memory", func(t *testing.T) {
		withGPUs(t)
		w, err := spawn(t, "cuda", nil)
		if err != nil {
			t.Fatal(err)
		}
		if w.Device != 1 {
			t.Errorf("picked device %d, want 1 (20 GiB free against 2 GiB)", w.Device)
		}
		stop(t, f, w.ID)
	})
	// An unknown backend lists those that can run here: installed, and
	// GPU ones only with a GPU.
	for _, tt := range []struct {
		name   string
		gpus   bool
		want   string
		driver bool // the message and hint speak of the NVIDIA driver
	}{
		{name: "unknown backend with GPUs", gpus: true,
			want: "backend rocm not available on node-1; available: [cpu, cuda, never-ready, crash, ignore-sigterm, polled, slow-start]"},
		{name: "unknown backend without GPU", driver: true,
			want: "backend rocm not available on node-1; available: [cpu, never-ready, crash, ignore-sigterm, polled, slow-start]; no NVIDIA GPU found by nvidia-smi"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gpus {
				withGPUs(t)
			} else {
				t.Setenv("PATH", emptyDir)
			}
			_, err := spawn(t, "rocm", nil)
			se := wantSpawnError(t, err, http.StatusUnprocessableEntity, api.CodeBackendUnavailable, tt.want)
			if got := strings.Contains(se.Detail.Hint, "install the NVIDIA driver"); got != tt.driver {
				t.Errorf("hint %q speaks of the driver: %v, want %v", se.Detail.Hint, got, tt.driver)
			}
		})
	}
	t.Run("invalid request", func(t *testing.T) {
		_, err := spawn(t, "cpu", intp(300))
		wantSpawnError(t, err, http.StatusBadRequest, api.CodeInvalidField, "device")
	})
	// Only the two cuda spawns started a worker.
	if got := len(f.relay.registered()); got != 2 {
		t.Errorf("relay saw %d registers, want 2: %v", got, f.relay.all())
	}
}

func TestSpawnPicksMostFreeOfThreeGPUs(t *testing.T) {
	t.Parallel()
	gpus := []api.GPU{
		{Index: 0, Name: "NVIDIA L4", MemoryTotalByte: 24 << 30, MemoryFreeByte: 4 << 30},
		{Index: 1, Name: "NVIDIA L4", MemoryTotalByte: 24 << 30, MemoryFreeByte: 16 << 30},
		{Index: 2, Name: "NVIDIA L4", MemoryTotalByte: 24 << 30, MemoryFreeByte: 8 << 30},
	}
	f := newFixture(t, options{devices: func(context.Context) api.Devices {
		return api.Devices{GPUs: gpus, Capabilities: []string{"cpu", "cuda:0", "cuda:1", "cuda:2"}}
	}})
	w := f.spawn(t, "cuda")
	if w.Device != 1 {
		t.Errorf("picked device %d, want 1 (16 GiB free; 0 and 2 have 4 and 8)", w.Device)
	}
}

// TestSpawnBackendNotInstalled spawns workers whose command is missing: a
// 503 BACKEND_NOT_INSTALLED that names the command and the install to run,
// never the raw fork/exec error; nothing is started or relayed.
func TestSpawnBackendNotInstalled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	tests := []struct {
		backend  string
		command  string
		wantHint []string
	}{
		{backend: "missing", command: "/nonexistent/rbee-worker",
			wantHint: []string{"install /nonexistent/rbee-worker on node-1", "queen setup install --node node-1"}},
		{backend: "uninstalled", command: filepath.Join(f.goDir, "bin", "rbee-worker"),
			wantHint: []string{"run `queen setup install --node node-1` on the queen to put it back"}},
	}
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			_, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: tt.backend})
			se := wantSpawnError(t, err, http.StatusServiceUnavailable, api.CodeBackendNotInstalled,
				"backend "+tt.backend+" is not installed on node-1", tt.command)
			if strings.Contains(se.Detail.Message, "fork/exec") {
				t.Errorf("message %q carries the raw exec error", se.Detail.Message)
			}
			for _, h := range tt.wantHint {
				if !strings.Contains(se.Detail.Hint, h) {
					t.Errorf("hint %q does not contain %q", se.Detail.Hint, h)
				}
			}
		})
	}
	if evs := f.relay.all(); len(evs) != 0 {
		t.Errorf("relay saw %v for workers that never started", evs)
	}
	if ws := f.sup.List(); len(ws) != 0 {
		t.Errorf("List = %v, want none", ids(ws))
	}
	// Their port is free again.
	if w := f.spawn(t, "cpu"); port(t, w.URL) != f.cfg.PortMin {
		t.Errorf("next worker got port %d, want %d", port(t, w.URL), f.cfg.PortMin)
	}
}

// TestSpawnModelRefReachesWorkerLiterally: a placeholder inside a model ref
// is not expanded again in the worker's command line, and a model ref that
// would be an option is refused.
func TestSpawnModelRefReachesWorkerLiterally(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	const ref = "hf:x/{port}{worker_id}"
	w, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: ref})
	if err != nil {
		t.Fatal(err)
	}
	argv := procStrings(t, w.PID, "cmdline")
	if i := slices.Index(argv, "--model-ref"); i < 0 || i+1 >= len(argv) || argv[i+1] != ref {
		t.Errorf("worker argv = %q, want --model-ref %s", argv, ref)
	}
	if w.ModelRef != ref {
		t.Errorf("worker model_ref = %q, want %q", w.ModelRef, ref)
	}
	_, err = f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "--never-ready"})
	wantSpawnError(t, err, http.StatusBadRequest, api.CodeInvalidField, "model_ref", "not starting with '-'")
}

// TestKilledWorkerIsSeenAtOnce kills a ready worker whose backend never
// restarts: it is listed and relayed failed with its exit code at once,
// until it is stopped.
func TestKilledWorkerIsSeenAtOnce(t *testing.T) {
	t.Parallel()
	never := api.Backend{Name: "cpu-never", DeviceKind: api.BackendCPU, Restart: api.RestartNever, Command: workerArgv(workerBin(t))}
	f := newFixture(t, options{backends: []api.Backend{never}})
	w := f.spawn(t, "cpu-never")
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "killed worker listed and relayed as failed", func() bool {
		ws := f.sup.List()
		return len(ws) == 1 && ws[0].State == api.WorkerFailed && slices.Contains(f.relay.of(w.ID), "update(failed)")
	})
	// 128 + SIGKILL, the shell's convention for a signal.
	if got := f.sup.List()[0]; got.ExitCode == nil || *got.ExitCode != 137 || got.SlotsAvailable != 0 || got.Restarts != 0 {
		t.Errorf("failed worker = %+v, want exit code 137, no free slot, no restart", got)
	}
	if !processGone(w.PID) {
		t.Errorf("worker %d still runs", w.PID)
	}
	if saved := savedWorkers(t, f.cfg.StateFile); len(saved) != 0 {
		t.Errorf("state file still lists %v", ids(saved))
	}
	// A worker that ended on its own keeps its output for diagnosis.
	if _, err := os.Stat(filepath.Join(f.cfg.LogDir, w.ID+".log")); err != nil {
		t.Errorf("log of the crashed worker: %v", err)
	}
	// Stop forgets it.
	if got, err := f.sup.Stop(t.Context(), w.ID); err != nil || got.State != api.WorkerFailed {
		t.Errorf("Stop of the failed worker = %+v, %v; want its failed record", got, err)
	}
	if len(f.sup.List()) != 0 || !f.relay.removed(w.ID) {
		t.Errorf("after Stop: List %v, relay %q; want none, and a remove last", ids(f.sup.List()), f.relay.of(w.ID))
	}
}

func TestWorkerCrashBeforeReady(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	start := time.Now()
	_, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: "crash"})
	wantSpawnError(t, err, http.StatusBadGateway, api.CodeWorkerFailed,
		"exited with code 3 before it was ready", "rbee-worker: crashed on purpose after 300ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("spawn of a crashing worker took %v", d)
	}
	reg := f.relay.registered()
	if len(reg) != 1 {
		t.Fatalf("relay registered %d workers, want 1", len(reg))
	}
	if got, want := f.relay.of(reg[0].ID), []string{"register(loading)", "remove"}; !slices.Equal(got, want) {
		t.Errorf("relay saw %q, want %q", got, want)
	}
	if !processGone(reg[0].PID) || len(f.sup.List()) != 0 {
		t.Errorf("crashed worker %d: gone %v, List %v", reg[0].PID, processGone(reg[0].PID), ids(f.sup.List()))
	}
}

func TestWorkerKilledBeforeReady(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	errc := make(chan error, 1)
	go func() {
		_, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: "never-ready"})
		errc <- err
	}()
	w := f.relay.awaitRegistered(t, 1)
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// 128 + SIGKILL, the shell's convention for a signal.
	wantSpawnError(t, <-errc, http.StatusBadGateway, api.CodeWorkerFailed, "exited with code 137 before it was ready")
	if !f.relay.removed(w.ID) {
		t.Errorf("relay saw %q, want a remove last", f.relay.of(w.ID))
	}
}

func TestReadyTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	start := time.Now()
	_, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: "never-ready", ReadyTimeoutMS: 800})
	took := time.Since(start)
	wantSpawnError(t, err, http.StatusGatewayTimeout, api.CodeLoadingTimeout, "not ready after 800ms; it was stopped", "never ready")
	if took < 800*time.Millisecond || took > 3*time.Second {
		t.Errorf("spawn gave up after %v, want 800ms and the worker's stop", took)
	}
	reg := f.relay.registered()
	if len(reg) != 1 {
		t.Fatalf("relay registered %d workers, want 1", len(reg))
	}
	if got, want := f.relay.of(reg[0].ID), []string{"register(loading)", "remove"}; !slices.Equal(got, want) {
		t.Errorf("relay saw %q, want %q", got, want)
	}
	if !processGone(reg[0].PID) {
		t.Errorf("worker %d still runs after the timeout", reg[0].PID)
	}
	if ws := f.sup.List(); len(ws) != 0 {
		t.Errorf("List = %v, want none", ids(ws))
	}
	if saved := savedWorkers(t, f.cfg.StateFile); len(saved) != 0 {
		t.Errorf("state file still lists %v", ids(saved))
	}
}

func TestSpawnCancelled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := f.sup.Spawn(ctx, api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: "never-ready"})
		errc <- err
	}()
	w := f.relay.awaitRegistered(t, 1)
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled spawn = %v, want context.Canceled", err)
	}
	if _, ok := errors.AsType[*supervisor.Error](err); ok {
		t.Errorf("cancelled spawn is a *supervisor.Error: %v", err)
	}
	if !processGone(w.PID) || !f.relay.removed(w.ID) || len(f.sup.List()) != 0 {
		t.Errorf("after the cancel: worker gone %v, relay %q, List %v", processGone(w.PID), f.relay.of(w.ID), ids(f.sup.List()))
	}
}

// httpGet returns the status of GET url.
func httpGet(t *testing.T, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// stop stops worker id and fails the test unless it is gone.
func stop(t *testing.T, f *fixture, id string) {
	t.Helper()
	w, err := f.sup.Stop(t.Context(), id)
	if err != nil {
		t.Fatalf("stop %s: %v", id, err)
	}
	if !processGone(w.PID) {
		t.Errorf("worker %s (pid %d) still runs after Stop", id, w.PID)
	}
}

// TestConcurrentSpawns spawns workers at once: each gets its own port, and
// the state file lists them all (under -race this also checks that a save
// does not read a worker that is still starting).
func TestConcurrentSpawns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	const n = 8
	workers := make([]api.Worker, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny"})
			if err != nil {
				t.Errorf("spawn %d: %v", i, err)
			}
			workers[i] = w
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	ports := map[int]string{}
	for _, w := range workers {
		p := port(t, w.URL)
		if other, ok := ports[p]; ok {
			t.Errorf("workers %s and %s both got port %d", other, w.ID, p)
		}
		ports[p] = w.ID
		if p < f.cfg.PortMin || p > f.cfg.PortMax {
			t.Errorf("worker %s got port %d outside %d–%d", w.ID, p, f.cfg.PortMin, f.cfg.PortMax)
		}
	}
	if ws := f.sup.List(); len(ws) != n {
		t.Errorf("List = %v, want %d workers", ids(ws), n)
	}
	if saved := savedWorkers(t, f.cfg.StateFile); len(saved) != n {
		t.Errorf("state file lists %v, want %d workers", ids(saved), n)
	}
	// Exactly one registration per worker: a port taken after all would
	// have been retried on another port, registering (and removing) a
	// worker that never served.
	var registered []string
	for _, e := range f.relay.all() {
		if e.Op == "register" {
			registered = append(registered, e.ID)
		}
	}
	if len(registered) != n {
		t.Errorf("the relay got %d registrations %v, want exactly %d", len(registered), registered, n)
	}
}
