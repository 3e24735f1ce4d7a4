package workerregistry

import (
	"fmt"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// t0 is the time tests register at; later calls use t0 plus some seconds.
var t0 = time.Unix(1_760_000_000, 0)

// sampleWorker returns a ready cuda worker id of node with every field set.
func sampleWorker(node, id string) api.Worker {
	return api.Worker{
		ID: id, Node: node, URL: "http://10.0.0.7:8081", ModelRef: "hf:TheBloke/TinyLlama-1.1B-Chat-GGUF",
		Backend: api.BackendCUDA, Device: 0, State: api.WorkerIdle, SlotsTotal: 4, SlotsAvailable: 4,
		VRAMBytes: 2 << 30, PID: 41_234, StartedUnix: 1_759_999_000,
	}
}

// mustRegister registers w for node at now and fails the test on error.
func mustRegister(t testing.TB, r *Registry, node string, w api.Worker, now time.Time) {
	t.Helper()
	if _, err := r.Register(node, w, now); err != nil {
		t.Fatalf("Register(%s, %s): %v", node, w.ID, err)
	}
}

// fleet returns a registry with nodes gpu-0000… each running perNode
// workers w-<node>-<i> on cuda devices 0–7, registered at t0.
func fleet(t testing.TB, nodes, perNode int) *Registry {
	t.Helper()
	r := New()
	for n := range nodes {
		for _, w := range nodeWorkers(nodeName(n), perNode) {
			mustRegister(t, r, w.Node, w, t0)
		}
	}
	return r
}

// nodeWorkers returns node's perNode workers as fleet registers them.
func nodeWorkers(node string, perNode int) []api.Worker {
	ws := make([]api.Worker, perNode)
	for i := range ws {
		ws[i] = sampleWorker(node, fmt.Sprintf("w-%s-%02d", node, i))
		ws[i].Device = i % 8
		ws[i].LastHeartbeatUnix = t0.Unix()
	}
	return ws
}

func nodeName(n int) string { return fmt.Sprintf("gpu-%04d", n) }

func intPtr(v int) *int { return &v }

func int64Ptr(v int64) *int64 { return &v }

// ids returns the node/id pairs of ws, in order.
func ids(ws []api.Worker) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Node + "/" + w.ID
	}
	return out
}

// closed reports whether ch is closed, without blocking.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// equalWorkers compares whole records, ExitCode by value.
func equalWorkers(a, b api.Worker) bool {
	return sameWorker(a, b) && a.LastHeartbeatUnix == b.LastHeartbeatUnix
}

// with returns w changed by edit.
func with(w api.Worker, edit func(*api.Worker)) api.Worker {
	edit(&w)
	return w
}
