package workerregistry

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestAllEqualsList checks that All yields what List returns, in the same
// order, as copies, and that a loop that stops early releases the lock.
func TestAllEqualsList(t *testing.T) {
	r := fleet(t, 5, 7)
	mustRegister(t, r, "gpu-0002", with(sampleWorker("gpu-0002", "w-failed"),
		func(w *api.Worker) { w.State, w.ExitCode = api.WorkerFailed, intPtr(137) }), t0)
	want := r.List(api.WorkerFilter{})
	var got []api.Worker
	for w := range r.All() {
		got = append(got, w)
	}
	if !slices.EqualFunc(got, want, equalWorkers) {
		t.Fatalf("All yields %v,\nwant List's %v", ids(got), ids(want))
	}
	for i := range got {
		if got[i].ExitCode != nil {
			*got[i].ExitCode = 1 // a copy: the stored record must not move
		}
	}
	if w, _ := r.Get("w-failed"); *w.ExitCode != 137 {
		t.Errorf("stored exit code changed through All's copy: %d", *w.ExitCode)
	}
	for range r.All() {
		break
	}
	mustRegister(t, r, "gpu-0000", sampleWorker("gpu-0000", "w-after"), t0) // deadlocks if the lock was kept
}

// TestRecordsShareRepeatedStrings checks that records decoded from
// separate heartbeats keep one copy of each repeated string (node, model,
// backend, state), and that a changed record keeps the id and URL it had.
func TestRecordsShareRepeatedStrings(t *testing.T) {
	r := New()
	for _, id := range []string{"w-1", "w-2"} {
		mustRegister(t, r, string([]byte("gpu-1")), decoded(t, sampleWorker("gpu-1", id)), t0)
	}
	a, _ := r.Get("w-1")
	b, _ := r.Get("w-2")
	for _, f := range []struct {
		name string
		a, b string
	}{{"node", a.Node, b.Node}, {"model", a.ModelRef, b.ModelRef}, {"backend", a.Backend, b.Backend}, {"state", a.State, b.State}} {
		if unsafe.StringData(f.a) != unsafe.StringData(f.b) {
			t.Errorf("%s %q is stored twice", f.name, f.a)
		}
	}
	r.Reconcile("gpu-1", []api.Worker{decoded(t, with(a, func(w *api.Worker) { w.SlotsAvailable = 1 })), b}, t0)
	changed, _ := r.Get("w-1")
	if changed.SlotsAvailable != 1 {
		t.Fatalf("the changed record was not stored: %+v", changed)
	}
	if unsafe.StringData(changed.ID) != unsafe.StringData(a.ID) || unsafe.StringData(changed.URL) != unsafe.StringData(a.URL) {
		t.Errorf("a change of slots stored new copies of the id and URL")
	}
}

// TestAllWalksInChunksUnderChanges walks a fleet of several chunks while
// another goroutine registers and removes workers: every worker that
// stayed shows once, in list order.
func TestAllWalksInChunksUnderChanges(t *testing.T) {
	r := fleet(t, 3, 1000)
	stayed := r.List(api.WorkerFilter{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			node := nodeName(i % 3)
			w := sampleWorker(node, fmt.Sprintf("w-%s-new-%d", node, i%50))
			if i%2 == 0 {
				_, _ = r.Register(node, w, t0)
			} else {
				_, _ = r.Remove(node, w.ID)
			}
		}
	}()
	var got []api.Worker
	for w := range r.All() {
		if !strings.Contains(w.ID, "-new-") {
			got = append(got, w)
		}
	}
	<-done
	if !slices.EqualFunc(got, stayed, func(a, b api.Worker) bool { return a.ID == b.ID }) {
		t.Fatalf("All yielded %d workers that stayed, want the %d in order", len(got), len(stayed))
	}
}
