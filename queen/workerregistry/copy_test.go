package workerregistry

import (
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestCopiesAreIndependent changes everything a caller gets or gave and
// checks that the stored record did not move.
func TestCopiesAreIndependent(t *testing.T) {
	r := New()
	in := sampleWorker("gpu-1", "w-1")
	in.State, in.ExitCode = api.WorkerFailed, intPtr(137)
	mustRegister(t, r, "gpu-1", in, t0)
	want, _ := r.Get("w-1")

	in.URL, *in.ExitCode = "http://10.9.9.9:1", 1
	got, _ := r.Get("w-1")
	got.URL, *got.ExitCode = "http://10.9.9.9:2", 2
	listed := r.List(api.WorkerFilter{})
	listed[0].URL, *listed[0].ExitCode = "http://10.9.9.9:3", 3
	code := 9
	u := api.UpdateWorkerRequest{ID: "w-1", State: api.WorkerFailed, ExitCode: &code}
	updated, err := r.Update("gpu-1", u, t0)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want.ExitCode = intPtr(9)
	code, *updated.ExitCode = 10, 11
	if stored, _ := r.Get("w-1"); !equalWorkers(stored, want) {
		t.Errorf("stored record changed through a copy: %+v (exit %d)\nwant %+v (exit %d)", stored, *stored.ExitCode, want, *want.ExitCode)
	}

	removed, err := r.Remove("gpu-1", "w-1")
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	again, _ := r.Remove("gpu-1", "w-1")
	*removed.ExitCode = 12
	if again.ExitCode != nil {
		t.Errorf("second Remove returned a record: %+v", again)
	}
}

func TestReconcileCopiesSnapshot(t *testing.T) {
	r := New()
	snapshot := []api.Worker{with(sampleWorker("gpu-1", "w-1"), func(w *api.Worker) { w.ExitCode = intPtr(2) })}
	r.Reconcile("gpu-1", snapshot, t0)
	snapshot[0].State, *snapshot[0].ExitCode = api.WorkerBusy, 3
	if got, _ := r.Get("w-1"); got.State != api.WorkerIdle || *got.ExitCode != 2 {
		t.Errorf("stored record follows the caller's snapshot: state %s, exit %d; want idle, 2", got.State, *got.ExitCode)
	}
}
