package workerregistry

import (
	"errors"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestRegister(t *testing.T) {
	later := t0.Add(7 * time.Second)
	stored := sampleWorker("gpu-1", "w-1")
	noStart := sampleWorker("gpu-1", "w-1")
	noStart.StartedUnix = 0
	busy := sampleWorker("gpu-1", "w-1")
	busy.State, busy.SlotsAvailable = api.WorkerBusy, 0
	otherBody := sampleWorker("gpu-9", "w-1")

	tests := []struct {
		name        string
		existing    []api.Worker // registered by their Node at t0
		node        string
		w           api.Worker
		wantCreated bool
		wantErr     error
		want        api.Worker // the record stored under w.ID afterwards
	}{
		{
			name: "new id", node: "gpu-1", w: stored, wantCreated: true,
			want: with(stored, func(w *api.Worker) { w.LastHeartbeatUnix = later.Unix() }),
		},
		{
			name: "new id without start time starts now", node: "gpu-1", w: noStart, wantCreated: true,
			want: with(stored, func(w *api.Worker) { w.StartedUnix, w.LastHeartbeatUnix = later.Unix(), later.Unix() }),
		},
		{
			name: "node in the body is replaced by the caller's", node: "gpu-1", w: otherBody, wantCreated: true,
			want: with(stored, func(w *api.Worker) { w.LastHeartbeatUnix = later.Unix() }),
		},
		{
			name: "same node again replaces", existing: []api.Worker{stored}, node: "gpu-1", w: busy,
			want: with(busy, func(w *api.Worker) { w.LastHeartbeatUnix = later.Unix() }),
		},
		{
			name: "same node again without start time keeps it", existing: []api.Worker{stored}, node: "gpu-1", w: noStart,
			want: with(stored, func(w *api.Worker) { w.LastHeartbeatUnix = later.Unix() }),
		},
		{
			name: "other node conflicts and changes nothing", existing: []api.Worker{stored}, node: "gpu-2", w: busy,
			wantErr: ErrConflict,
			want:    with(stored, func(w *api.Worker) { w.LastHeartbeatUnix = t0.Unix() }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			for _, w := range tt.existing {
				mustRegister(t, r, w.Node, w, t0)
			}
			created, err := r.Register(tt.node, tt.w, later)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Register err = %v, want %v", err, tt.wantErr)
			}
			if created != tt.wantCreated {
				t.Errorf("created = %v, want %v", created, tt.wantCreated)
			}
			got, ok := r.Get(tt.w.ID)
			if !ok || !equalWorkers(got, tt.want) {
				t.Errorf("Get = %+v, %v\nwant %+v", got, ok, tt.want)
			}
			if r.Len() != 1 {
				t.Errorf("Len = %d, want 1", r.Len())
			}
		})
	}
}

func TestRegisterConflictMessage(t *testing.T) {
	r := New()
	mustRegister(t, r, "gpu-1", sampleWorker("gpu-1", "w-1"), t0)
	_, err := r.Register("gpu-2", sampleWorker("gpu-2", "w-1"), t0)
	want := `worker id registered by another node: "w-1"; worker ids must be unique across the fleet, give this worker a new id`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
