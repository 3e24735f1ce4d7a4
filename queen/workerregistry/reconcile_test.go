package workerregistry

import (
	"slices"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestReconcile(t *testing.T) {
	later := t0.Add(5 * time.Second)
	a, b, c := sampleWorker("gpu-1", "w-a"), sampleWorker("gpu-1", "w-b"), sampleWorker("gpu-1", "w-c")
	bBusy := with(b, func(w *api.Worker) { w.State, w.SlotsAvailable = api.WorkerBusy, 0 })
	foreign := sampleWorker("gpu-2", "w-x")

	tests := []struct {
		name          string
		existing      []api.Worker // registered by their Node at t0
		snapshot      []api.Worker
		wantAdded     int
		wantRemoved   int
		wantConflicts []string
		want          []api.Worker // List() afterwards, heartbeat times aside
	}{
		{
			name: "first heartbeat adds", snapshot: []api.Worker{a, b},
			wantAdded: 2, want: []api.Worker{a, b},
		},
		{
			name: "unchanged", existing: []api.Worker{a, b}, snapshot: []api.Worker{b, a},
			want: []api.Worker{a, b},
		},
		{
			name: "changed record is replaced", existing: []api.Worker{a, b}, snapshot: []api.Worker{a, bBusy},
			want: []api.Worker{a, bBusy},
		},
		{
			name: "missing records are removed", existing: []api.Worker{a, b, c}, snapshot: []api.Worker{b},
			wantRemoved: 2, want: []api.Worker{b},
		},
		{
			name: "empty snapshot removes all of the node", existing: []api.Worker{a, b, foreign}, snapshot: nil,
			wantRemoved: 2, want: []api.Worker{foreign},
		},
		{
			name: "add, replace and remove at once", existing: []api.Worker{a, b}, snapshot: []api.Worker{bBusy, c},
			wantAdded: 1, wantRemoved: 1, want: []api.Worker{bBusy, c},
		},
		{
			name: "id of another node is skipped and reported", existing: []api.Worker{a, foreign},
			snapshot:  []api.Worker{a, with(foreign, func(w *api.Worker) { w.Node, w.State = "gpu-1", api.WorkerBusy })},
			wantAdded: 0, wantConflicts: []string{"w-x"}, want: []api.Worker{a, foreign},
		},
		{
			name: "duplicate id in the snapshot counts once", existing: []api.Worker{a, b}, snapshot: []api.Worker{a, a},
			wantRemoved: 1, want: []api.Worker{a},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			for _, w := range tt.existing {
				mustRegister(t, r, w.Node, w, t0)
			}
			added, removed, conflicts := r.Reconcile("gpu-1", tt.snapshot, later)
			if added != tt.wantAdded || removed != tt.wantRemoved || !slices.Equal(conflicts, tt.wantConflicts) {
				t.Errorf("Reconcile = %d added, %d removed, conflicts %q; want %d, %d, %q",
					added, removed, conflicts, tt.wantAdded, tt.wantRemoved, tt.wantConflicts)
			}
			got := r.List(api.WorkerFilter{})
			if !slices.EqualFunc(got, tt.want, sameWorker) {
				t.Errorf("List = %+v\nwant %+v", got, tt.want)
			}
			for _, w := range got {
				if want := heartbeatAfter(w.Node, later); w.LastHeartbeatUnix != want {
					t.Errorf("%s/%s LastHeartbeatUnix = %d, want %d", w.Node, w.ID, w.LastHeartbeatUnix, want)
				}
			}
		})
	}
}

// heartbeatAfter is a record's heartbeat time after gpu-1 reconciled at
// later: other nodes keep their register time.
func heartbeatAfter(node string, later time.Time) int64 {
	if node == "gpu-1" {
		return later.Unix()
	}
	return t0.Unix()
}

func TestReconcileKeepsStartTimeWhenSnapshotHasNone(t *testing.T) {
	r := New()
	w := sampleWorker("gpu-1", "w-1")
	mustRegister(t, r, "gpu-1", w, t0)
	w.StartedUnix = 0
	ch := r.Changed()
	r.Reconcile("gpu-1", []api.Worker{w}, t0.Add(time.Minute))
	if got, _ := r.Get("w-1"); got.StartedUnix != sampleWorker("", "").StartedUnix {
		t.Errorf("StartedUnix = %d, want the registered %d", got.StartedUnix, sampleWorker("", "").StartedUnix)
	}
	if closed(ch) {
		t.Error("Changed fired for a snapshot without a start time but otherwise equal")
	}
}

func TestReconcileUnchangedAllocatesNothing(t *testing.T) {
	r := fleet(t, 100, 16)
	node := nodeName(42)
	snapshot := nodeWorkers(node, 16)
	_ = r.Changed() // a waiter exists: a no-op must not close its channel
	now := t0
	allocs := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Second)
		r.Reconcile(node, snapshot, now)
	})
	if allocs != 0 {
		t.Errorf("Reconcile of an unchanged snapshot: %.1f allocations, want 0", allocs)
	}
	if got, _ := r.Get(snapshot[0].ID); got.LastHeartbeatUnix != now.Unix() {
		t.Errorf("LastHeartbeatUnix = %d, want %d", got.LastHeartbeatUnix, now.Unix())
	}
}
