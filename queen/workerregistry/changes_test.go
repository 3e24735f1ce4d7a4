package workerregistry

import (
	"fmt"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestChangesSince checks the change log: every change Changed fires for
// is there once per id, as the record is now; a heartbeat that changes
// nothing is not; a reader further behind than the log must read all.
func TestChangesSince(t *testing.T) {
	r := fleet(t, 2, 3)
	v := r.Version()
	r.Reconcile("gpu-0000", nodeWorkers("gpu-0000", 3), t0) // the same: no change
	if changes, _, ok := r.ChangesSince(v); !ok || len(changes) != 0 {
		t.Fatalf("an unchanged snapshot logged %v (ok %v)", changes, ok)
	}
	busy := api.UpdateWorkerRequest{ID: "w-gpu-0000-00", State: api.WorkerBusy}
	if _, err := r.Update("gpu-0000", busy, t0); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, r, "gpu-0000", with(sampleWorker("gpu-0000", "w-gpu-0000-00"), func(w *api.Worker) { w.SlotsAvailable = 1 }), t0)
	if _, err := r.Remove("gpu-0001", "w-gpu-0001-02"); err != nil {
		t.Fatal(err)
	}
	changes, now, ok := r.ChangesSince(v)
	want := []string{"w-gpu-0000-00 slots 1", "w-gpu-0001-02 gone"}
	if got := describe(changes); !ok || fmt.Sprint(got) != fmt.Sprint(want) || now != r.Version() {
		t.Fatalf("ChangesSince = %v, %d, %v; want %v, %d, true", got, now, ok, want, r.Version())
	}
	if again, _, ok := r.ChangesSince(now); !ok || len(again) != 0 {
		t.Errorf("nothing changed since %d, got %v", now, describe(again))
	}
	for i := range maxLog {
		mustRegister(t, r, "gpu-0000", sampleWorker("gpu-0000", fmt.Sprintf("w-many-%d", i)), t0)
	}
	if _, _, ok := r.ChangesSince(now); ok {
		t.Errorf("a reader %d changes behind got the log, want ok false", maxLog)
	}
}

func describe(changes []Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = fmt.Sprintf("%s slots %d", c.ID, c.Worker.SlotsAvailable)
		if c.Gone {
			out[i] = c.ID + " gone"
		}
	}
	return out
}
