package workerregistry

import (
	"errors"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestUpdate(t *testing.T) {
	later := t0.Add(3 * time.Second)
	loading := sampleWorker("gpu-1", "w-1")
	loading.State, loading.URL, loading.SlotsTotal, loading.SlotsAvailable, loading.VRAMBytes = api.WorkerLoading, "", 0, 0, 0
	stamped := func(w api.Worker) api.Worker { w.LastHeartbeatUnix = later.Unix(); return w }

	tests := []struct {
		name    string
		node    string
		u       api.UpdateWorkerRequest
		wantErr error
		want    api.Worker // the record stored under w-1 afterwards
	}{
		{
			name: "unknown id", node: "gpu-1", u: api.UpdateWorkerRequest{ID: "w-404", State: api.WorkerIdle},
			wantErr: ErrNotFound, want: with(loading, func(w *api.Worker) { w.LastHeartbeatUnix = t0.Unix() }),
		},
		{
			name: "worker of another node", node: "gpu-2", u: api.UpdateWorkerRequest{ID: "w-1", State: api.WorkerIdle},
			wantErr: ErrForbidden, want: with(loading, func(w *api.Worker) { w.LastHeartbeatUnix = t0.Unix() }),
		},
		{
			name: "state only keeps the rest", node: "gpu-1", u: api.UpdateWorkerRequest{ID: "w-1", State: api.WorkerStopping},
			want: stamped(with(loading, func(w *api.Worker) { w.State = api.WorkerStopping })),
		},
		{
			name: "ready with every optional field", node: "gpu-1",
			u: api.UpdateWorkerRequest{
				ID: "w-1", State: api.WorkerIdle, URL: "http://10.0.0.7:8082",
				SlotsTotal: intPtr(8), SlotsAvailable: intPtr(6), VRAMBytes: int64Ptr(3 << 30),
			},
			want: stamped(with(loading, func(w *api.Worker) {
				w.State, w.URL, w.SlotsTotal, w.SlotsAvailable, w.VRAMBytes = api.WorkerIdle, "http://10.0.0.7:8082", 8, 6, 3<<30
			})),
		},
		{
			name: "zero values are applied when sent", node: "gpu-1",
			u:    api.UpdateWorkerRequest{ID: "w-1", State: api.WorkerBusy, SlotsAvailable: intPtr(0), VRAMBytes: int64Ptr(0)},
			want: stamped(with(loading, func(w *api.Worker) { w.State = api.WorkerBusy })),
		},
		{
			name: "failed with exit code", node: "gpu-1",
			u:    api.UpdateWorkerRequest{ID: "w-1", State: api.WorkerFailed, ExitCode: intPtr(137)},
			want: stamped(with(loading, func(w *api.Worker) { w.State, w.ExitCode = api.WorkerFailed, intPtr(137) })),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			mustRegister(t, r, "gpu-1", loading, t0)
			got, err := r.Update(tt.node, tt.u, later)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Update err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !equalWorkers(got, tt.want) {
				t.Errorf("Update = %+v\nwant %+v", got, tt.want)
			}
			if stored, _ := r.Get("w-1"); !equalWorkers(stored, tt.want) {
				t.Errorf("Get = %+v\nwant %+v", stored, tt.want)
			}
		})
	}
}

func TestUpdateErrorMessages(t *testing.T) {
	r := New()
	mustRegister(t, r, "gpu-1", sampleWorker("gpu-1", "w-1"), t0)
	tests := []struct {
		name string
		node string
		id   string
		want string
	}{
		{"unknown", "gpu-1", "w-2", `worker not found: "w-2"; register it first`},
		{"foreign", "gpu-2", "w-1", `worker owned by another node: "w-1"; a hive may change only its own workers`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Update(tt.node, api.UpdateWorkerRequest{ID: tt.id, State: api.WorkerIdle}, t0)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Update err = %v\nwant %s", err, tt.want)
			}
		})
	}
}
