//go:build linux

package supervisor_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestStop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	w := f.spawn(t, "cpu")
	got, err := f.sup.Stop(t.Context(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != w.ID || got.PID != w.PID || got.State != api.WorkerStopping || got.Killed ||
		got.StopMS < 0 || got.StopMS >= testGrace.Milliseconds() {
		t.Errorf("Stop = %+v, want %s (pid %d) stopping within the grace, not killed", got, w.ID, w.PID)
	}
	// Stop returns once the worker is gone and relayed.
	if !processGone(w.PID) {
		t.Errorf("worker %d still runs after Stop", w.PID)
	}
	if !f.relay.removed(w.ID) {
		t.Errorf("relay saw %q, want a remove last", f.relay.of(w.ID))
	}
	if ws := f.sup.List(); len(ws) != 0 {
		t.Errorf("List = %v, want none", ids(ws))
	}
	if saved := savedWorkers(t, f.cfg.StateFile); len(saved) != 0 {
		t.Errorf("state file still lists %v", ids(saved))
	}
	if _, err := os.Stat(filepath.Join(f.cfg.LogDir, w.ID+".log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log of a stopped worker: %v, want it removed", err)
	}

	_, err = f.sup.Stop(t.Context(), w.ID)
	wantSpawnError(t, err, http.StatusNotFound, api.CodeNotFound, "no worker "+w.ID+" on this node")
	_, err = f.sup.Stop(t.Context(), "w-unknown")
	wantSpawnError(t, err, http.StatusNotFound, api.CodeNotFound, "no worker w-unknown on this node")
}

func TestStopKillsWorkerIgnoringSIGTERM(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	w := f.spawn(t, "ignore-sigterm")
	start := time.Now()
	got, err := f.sup.Stop(t.Context(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took < testGrace || took > testGrace+1500*time.Millisecond {
		t.Errorf("Stop took %v, want the grace (%v) and a SIGKILL", took, testGrace)
	}
	// The answer says it was killed, and after how long.
	if !got.Killed || got.StopMS < testGrace.Milliseconds() || got.StopMS > took.Milliseconds() {
		t.Errorf("Stop = killed %v after %d ms, want killed after %d–%d ms", got.Killed, got.StopMS,
			testGrace.Milliseconds(), took.Milliseconds())
	}
	if !processGone(w.PID) || !f.relay.removed(w.ID) {
		t.Errorf("after Stop: worker gone %v, relay %q", processGone(w.PID), f.relay.of(w.ID))
	}
}

// TestStopCallerGivesUp: when the caller of Stop stops waiting, the worker
// is still killed after the grace.
func TestStopCallerGivesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	w := f.spawn(t, "ignore-sigterm")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := f.sup.Stop(ctx, w.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop with a 100ms ctx = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took >= testGrace {
		t.Errorf("Stop with a 100ms ctx took %v", took)
	}
	if ws := f.sup.List(); len(ws) != 1 || ws[0].State != api.WorkerStopping {
		t.Errorf("List = %v, want the worker stopping", ids(ws))
	}
	waitFor(t, testGrace+1500*time.Millisecond, "worker killed after the grace", func() bool { return f.relay.removed(w.ID) })
	if !processGone(w.PID) {
		t.Errorf("worker %d still runs", w.PID)
	}
}

// TestStopLoadingWorker stops a worker whose spawn still waits for it.
func TestStopLoadingWorker(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	errc := make(chan error, 1)
	go func() {
		_, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: "never-ready"})
		errc <- err
	}()
	w := f.relay.awaitRegistered(t, 1)
	if _, err := f.sup.Stop(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if err == nil {
		t.Fatal("spawn of a worker stopped while loading succeeded")
	}
	t.Logf("spawn of a worker stopped while loading: %v", err)
	if !processGone(w.PID) || !f.relay.removed(w.ID) || len(f.sup.List()) != 0 {
		t.Errorf("after Stop: worker gone %v, relay %q, List %v", processGone(w.PID), f.relay.of(w.ID), ids(f.sup.List()))
	}
}

func TestStopAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	// Spawned at once: the spawns save and relay concurrently.
	backends := []string{"cpu", "cpu", "ignore-sigterm"}
	workers := make([]api.Worker, len(backends))
	var wg sync.WaitGroup
	for i, b := range backends {
		wg.Go(func() {
			w, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: b})
			if err != nil {
				t.Errorf("spawn %s: %v", b, err)
			}
			workers[i] = w
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if ws := f.sup.List(); len(ws) != 3 {
		t.Fatalf("List = %v, want 3 workers", ids(ws))
	}
	if saved := savedWorkers(t, f.cfg.StateFile); len(saved) != 3 {
		t.Errorf("state file lists %v, want 3 workers", ids(saved))
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	f.sup.StopAll(ctx)
	took := time.Since(start)
	// One worker ignores SIGTERM: the grace, once, since all stop at once.
	if took < testGrace || took > testGrace+2*time.Second {
		t.Errorf("StopAll took %v, want about the grace (%v)", took, testGrace)
	}
	for _, w := range workers {
		if !processGone(w.PID) || !f.relay.removed(w.ID) {
			t.Errorf("worker %s (pid %d) after StopAll: gone %v, relay %q", w.ID, w.PID, processGone(w.PID), f.relay.of(w.ID))
		}
	}
	if ws := f.sup.List(); len(ws) != 0 {
		t.Errorf("List = %v, want none", ids(ws))
	}

	_, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny"})
	wantSpawnError(t, err, http.StatusServiceUnavailable, api.CodeHiveNotOnline, "shutting down")
	if n := len(f.relay.registered()); n != 3 {
		t.Errorf("relay saw %d registers, want no new one after StopAll", n)
	}
}
