package workerregistry

import (
	"fmt"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func BenchmarkRegister(b *testing.B) {
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		const batch = 16_000
		ws := make([]api.Worker, batch)
		for i := range ws {
			ws[i] = sampleWorker(nodeName(i/16), fmt.Sprintf("w-%06d", i))
		}
		r := New()
		i := 0
		for b.Loop() {
			if i == batch {
				b.StopTimer()
				r, i = New(), 0
				b.StartTimer()
			}
			if _, err := r.Register(ws[i].Node, ws[i], t0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("again", func(b *testing.B) {
		b.ReportAllocs()
		r := fleet(b, 1000, 16)
		w := nodeWorkers(nodeName(500), 16)[3]
		for b.Loop() {
			if _, err := r.Register(w.Node, w, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	b.ReportAllocs()
	r := fleet(b, 1000, 16)
	us := make([]api.UpdateWorkerRequest, 16_000)
	owners := make([]string, len(us))
	for i := range us {
		owners[i] = nodeName(i / 16)
		us[i] = api.UpdateWorkerRequest{ID: fmt.Sprintf("w-%s-%02d", owners[i], i%16), SlotsAvailable: intPtr(i % 4)}
	}
	states := []string{api.WorkerBusy, api.WorkerIdle}
	i := 0
	for b.Loop() {
		u := us[i%len(us)]
		u.State = states[(i/len(us))%2] // every call changes the state
		if _, err := r.Update(owners[i%len(us)], u, t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkReconcile is the heartbeat of one hive with 16 unchanged workers
// in a fleet of 1,000 hives.
func BenchmarkReconcile(b *testing.B) {
	b.ReportAllocs()
	const nodes = 1000
	r := fleet(b, nodes, 16)
	names := make([]string, nodes)
	snapshots := make([][]api.Worker, nodes)
	for n := range snapshots {
		names[n] = nodeName(n)
		snapshots[n] = nodeWorkers(names[n], 16)
	}
	_ = r.Changed()
	now, i := t0, 0
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if added, removed, _ := r.Reconcile(names[i%nodes], snapshots[i%nodes], now); added+removed != 0 {
			b.Fatalf("unchanged snapshot: %d added, %d removed", added, removed)
		}
		i++
	}
}

// BenchmarkListFilter lists from 10,000 workers (625 nodes × 16, cuda
// devices 0–7).
func BenchmarkListFilter(b *testing.B) {
	r := fleet(b, 625, 16)
	for _, bc := range []struct {
		name string
		f    api.WorkerFilter
		want int
	}{
		{"capability", api.WorkerFilter{Capability: "cuda:0"}, 1250},
		{"node", api.WorkerFilter{Node: nodeName(300)}, 16},
		{"all", api.WorkerFilter{}, 10_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got := r.List(bc.f); len(got) != bc.want {
					b.Fatalf("List(%+v) = %d workers, want %d", bc.f, len(got), bc.want)
				}
			}
		})
	}
}
