package workerregistry

import (
	"errors"
	"slices"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestRemove(t *testing.T) {
	tests := []struct {
		name    string
		node    string
		id      string
		wantErr error
		wantLen int
	}{
		{name: "own worker", node: "gpu-1", id: "w-1", wantLen: 1},
		{name: "unknown id", node: "gpu-1", id: "w-404", wantErr: ErrNotFound, wantLen: 2},
		{name: "worker of another node", node: "gpu-2", id: "w-1", wantErr: ErrForbidden, wantLen: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			mustRegister(t, r, "gpu-1", sampleWorker("gpu-1", "w-1"), t0)
			mustRegister(t, r, "gpu-2", sampleWorker("gpu-2", "w-2"), t0)
			got, err := r.Remove(tt.node, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Remove err = %v, want %v", err, tt.wantErr)
			}
			if r.Len() != tt.wantLen {
				t.Errorf("Len = %d, want %d", r.Len(), tt.wantLen)
			}
			_, stillThere := r.Get(tt.id)
			if err == nil && (got.ID != tt.id || got.Node != tt.node || stillThere) {
				t.Errorf("Remove = %s/%s, Get found it: %v; want %s/%s gone", got.Node, got.ID, stillThere, tt.node, tt.id)
			}
			if err == nil && len(r.List(api.WorkerFilter{Node: tt.node})) != 0 {
				t.Errorf("List(node %s) still has workers after its only one was removed", tt.node)
			}
		})
	}
}

func TestRemoveNode(t *testing.T) {
	r := fleet(t, 3, 4)
	if n := r.RemoveNode(nodeName(1)); n != 4 {
		t.Errorf("RemoveNode(%s) = %d, want 4", nodeName(1), n)
	}
	if n := r.RemoveNode(nodeName(1)); n != 0 {
		t.Errorf("RemoveNode(%s) again = %d, want 0", nodeName(1), n)
	}
	if n := r.RemoveNode("gpu-never"); n != 0 {
		t.Errorf("RemoveNode(unknown) = %d, want 0", n)
	}
	if r.Len() != 8 {
		t.Errorf("Len = %d, want 8", r.Len())
	}
	for _, w := range r.List(api.WorkerFilter{}) {
		if w.Node == nodeName(1) {
			t.Errorf("worker %s of the removed node is still listed", w.ID)
		}
	}
	// The ids are free again, for any node.
	w := nodeWorkers(nodeName(1), 1)[0]
	if created, err := r.Register(nodeName(2), w, t0); !created || err != nil {
		t.Errorf("Register of a freed id by another node = %v, %v; want true, nil", created, err)
	}
	if got := ids(r.List(api.WorkerFilter{Node: nodeName(2)})); !slices.Contains(got, nodeName(2)+"/"+w.ID) {
		t.Errorf("List(node %s) = %v, want it to hold %s", nodeName(2), got, w.ID)
	}
}
