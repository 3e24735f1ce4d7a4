package workerregistry

import (
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestChanged runs one call on a registry holding gpu-1's w-1 and w-2 and
// gpu-2's w-3, and checks whether a channel taken before it was closed.
func TestChanged(t *testing.T) {
	later := t0.Add(time.Second)
	w1, w2 := sampleWorker("gpu-1", "w-1"), sampleWorker("gpu-1", "w-2")
	busy := with(w1, func(w *api.Worker) { w.State = api.WorkerBusy })
	tests := []struct {
		name string
		call string
		node string
		w    api.Worker
		u    api.UpdateWorkerRequest
		ws   []api.Worker
		want bool
	}{
		{name: "register new", call: "register", node: "gpu-1", w: sampleWorker("gpu-1", "w-9"), want: true},
		{name: "register changed", call: "register", node: "gpu-1", w: busy, want: true},
		{name: "register identical", call: "register", node: "gpu-1", w: w1, want: false},
		{name: "register conflict", call: "register", node: "gpu-2", w: busy, want: false},
		{name: "update state", call: "update", node: "gpu-1", u: api.UpdateWorkerRequest{ID: "w-1", State: api.WorkerBusy}, want: true},
		{name: "update to the same", call: "update", node: "gpu-1", u: api.UpdateWorkerRequest{ID: "w-1", State: api.WorkerIdle}, want: false},
		{name: "update refused", call: "update", node: "gpu-2", u: api.UpdateWorkerRequest{ID: "w-1", State: api.WorkerBusy}, want: false},
		{name: "remove", call: "remove", node: "gpu-1", w: w1, want: true},
		{name: "remove refused", call: "remove", node: "gpu-2", w: w1, want: false},
		{name: "remove node", call: "remove-node", node: "gpu-1", want: true},
		{name: "remove node without workers", call: "remove-node", node: "gpu-7", want: false},
		{name: "reconcile unchanged", call: "reconcile", node: "gpu-1", ws: []api.Worker{w2, w1}, want: false},
		{name: "reconcile changed", call: "reconcile", node: "gpu-1", ws: []api.Worker{busy, w2}, want: true},
		{name: "reconcile removing", call: "reconcile", node: "gpu-1", ws: []api.Worker{w2}, want: true},
		{name: "reconcile only conflicts", call: "reconcile", node: "gpu-2", ws: []api.Worker{sampleWorker("gpu-2", "w-3"), w1}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			mustRegister(t, r, "gpu-1", w1, t0)
			mustRegister(t, r, "gpu-1", w2, t0)
			mustRegister(t, r, "gpu-2", sampleWorker("gpu-2", "w-3"), t0)
			ch := r.Changed()
			if r.Changed() != ch {
				t.Fatal("Changed returned a new channel without a change")
			}
			switch tt.call {
			case "register":
				_, _ = r.Register(tt.node, tt.w, later)
			case "update":
				_, _ = r.Update(tt.node, tt.u, later)
			case "remove":
				_, _ = r.Remove(tt.node, tt.w.ID)
			case "remove-node":
				r.RemoveNode(tt.node)
			case "reconcile":
				r.Reconcile(tt.node, tt.ws, later)
			default:
				t.Fatalf("unknown call %q", tt.call)
			}
			if closed(ch) != tt.want {
				t.Errorf("Changed closed = %v, want %v", closed(ch), tt.want)
			}
			if tt.want && closed(r.Changed()) {
				t.Error("Changed after the change returned a closed channel")
			}
		})
	}
}

// TestChangedWakesWaiter is the spawn path: wait until a worker is idle.
func TestChangedWakesWaiter(t *testing.T) {
	r := New()
	mustRegister(t, r, "gpu-1", with(sampleWorker("gpu-1", "w-1"), func(w *api.Worker) { w.State = api.WorkerLoading }), t0)
	done := make(chan api.Worker)
	go func() {
		for {
			ch := r.Changed()
			if w, ok := r.Get("w-1"); ok && w.State == api.WorkerIdle {
				done <- w
				return
			}
			select {
			case <-t.Context().Done():
				return
			case <-ch:
			}
		}
	}()
	if _, err := r.Update("gpu-1", api.UpdateWorkerRequest{ID: "w-1", State: api.WorkerIdle}, t0); err != nil {
		t.Fatalf("Update: %v", err)
	}
	select {
	case w := <-done:
		if w.State != api.WorkerIdle {
			t.Errorf("waiter saw state %s, want idle", w.State)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not woken within 10s of the update")
	}
}
