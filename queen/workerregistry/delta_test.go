package workerregistry

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestApplyDelta(t *testing.T) {
	later := t0.Add(5 * time.Second)
	changedA1 := sampleWorker("gpu-a", "a-1")
	changedA1.SlotsAvailable = 1
	newA3 := sampleWorker("gpu-a", "a-3")
	tests := []struct {
		name          string
		changed       []api.Worker
		removed       []string
		wantIDs       []string
		wantAdded     int
		wantDeleted   int
		wantConflicts []string
		wantChange    bool
	}{
		{name: "nothing changed", wantIDs: []string{"a-1", "a-2", "b-1"}},
		{name: "a change", changed: []api.Worker{changedA1}, wantIDs: []string{"a-1", "a-2", "b-1"}, wantChange: true},
		{name: "a new worker", changed: []api.Worker{newA3}, wantIDs: []string{"a-1", "a-2", "a-3", "b-1"}, wantAdded: 1, wantChange: true},
		{name: "a removal", removed: []string{"a-2"}, wantIDs: []string{"a-1", "b-1"}, wantDeleted: 1, wantChange: true},
		{name: "a removal of an unknown id", removed: []string{"a-9"}, wantIDs: []string{"a-1", "a-2", "b-1"}},
		{name: "another node's ids", changed: []api.Worker{sampleWorker("gpu-a", "b-1")}, removed: []string{"b-1"},
			wantIDs: []string{"a-1", "a-2", "b-1"}, wantConflicts: []string{"b-1", "b-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			mustRegister(t, r, "gpu-a", sampleWorker("gpu-a", "a-1"), t0)
			mustRegister(t, r, "gpu-a", sampleWorker("gpu-a", "a-2"), t0)
			mustRegister(t, r, "gpu-b", sampleWorker("gpu-b", "b-1"), t0)
			ch := r.Changed()
			added, deleted, conflicts := r.ApplyDelta("gpu-a", tt.changed, tt.removed, later)
			if added != tt.wantAdded || deleted != tt.wantDeleted || !slices.Equal(conflicts, tt.wantConflicts) {
				t.Errorf("ApplyDelta = %d added, %d deleted, conflicts %v; want %d, %d, %v",
					added, deleted, conflicts, tt.wantAdded, tt.wantDeleted, tt.wantConflicts)
			}
			var ids []string
			for _, w := range r.List(api.WorkerFilter{}) {
				ids = append(ids, w.ID)
				want := later.Unix()
				if w.Node != "gpu-a" {
					want = t0.Unix() // another node's beat does not touch it
				}
				if w.LastHeartbeatUnix != want {
					t.Errorf("%s: heartbeat time %d, want %d", w.ID, w.LastHeartbeatUnix, want)
				}
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("ids %v, want %v", ids, tt.wantIDs)
			}
			if got, _ := r.Get("a-1"); tt.name == "a change" && got.SlotsAvailable != 1 {
				t.Errorf("a-1 has %d free slots, want the delta's 1", got.SlotsAvailable)
			}
			select {
			case <-ch:
				if !tt.wantChange {
					t.Error("Changed fired for a delta that changed nothing")
				}
			default:
				if tt.wantChange {
					t.Error("Changed did not fire")
				}
			}
		})
	}
}

func TestTouchRefreshesOnlyTheNode(t *testing.T) {
	r := New()
	mustRegister(t, r, "gpu-a", sampleWorker("gpu-a", "a-1"), t0)
	mustRegister(t, r, "gpu-b", sampleWorker("gpu-b", "b-1"), t0)
	r.Touch("gpu-a", t0.Add(time.Minute))
	a, _ := r.Get("a-1")
	b, _ := r.Get("b-1")
	if a.LastHeartbeatUnix != t0.Add(time.Minute).Unix() || b.LastHeartbeatUnix != t0.Unix() {
		t.Errorf("heartbeat times a-1 %d, b-1 %d; want only a-1 moved", a.LastHeartbeatUnix, b.LastHeartbeatUnix)
	}
}

// TestSumSeesEveryFieldButTheHeartbeatTime changes each field of
// api.Worker in turn (by reflection, so a field added later is covered):
// every one but LastHeartbeatUnix must change the node's Sum, or the queen
// would take a changed node for the one an old agent's repeated body left.
func TestSumSeesEveryFieldButTheHeartbeatTime(t *testing.T) {
	base := sampleWorker("gpu-a", "a-1")
	sumOf := func(w api.Worker) uint64 {
		r := New()
		if w.ID != "" {
			r.Reconcile("gpu-a", []api.Worker{w}, t0)
			// Reconcile sets the node; put a changed one back directly.
			r.byID[w.ID].w = w
		}
		return r.Sum("gpu-a")
	}
	want := sumOf(base)
	if sumOf(api.Worker{}) != 0 {
		t.Error("Sum of a node without workers is not 0")
	}
	typ := reflect.TypeFor[api.Worker]()
	for i := range typ.NumField() {
		w := base
		f := reflect.ValueOf(&w).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Pointer:
			f.Set(reflect.ValueOf(intPtr(3)))
		default:
			t.Fatalf("field %s of kind %s: teach this test to change it", typ.Field(i).Name, f.Kind())
		}
		changed := sumOf(w) != want
		if name := typ.Field(i).Name; changed == (name == "LastHeartbeatUnix") {
			t.Errorf("changing %s changes Sum: %v", name, changed)
		}
	}
	three, four := base, base
	three.ExitCode, four.ExitCode = intPtr(3), intPtr(4)
	if sumOf(three) == sumOf(four) {
		t.Error("exit codes 3 and 4 have the same Sum")
	}
}
