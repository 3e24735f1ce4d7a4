package workerregistry

import (
	"fmt"
	"slices"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestList(t *testing.T) {
	r := New()
	// Registered out of order, to check the sort.
	for _, w := range []api.Worker{
		{ID: "w-9", Node: "gpu-2", ModelRef: "hf:Qwen/Qwen2-7B-GGUF", Backend: "cuda", Device: 1, State: api.WorkerBusy},
		{ID: "w-1", Node: "gpu-2", ModelRef: "hf:Qwen/Qwen2-7B-GGUF", Backend: "cuda", Device: 0, State: api.WorkerIdle},
		{ID: "w-5", Node: "gpu-1", ModelRef: "/models/tiny llama.gguf", Backend: "cpu", Device: 0, State: api.WorkerIdle},
		{ID: "w-10", Node: "gpu-1", ModelRef: "hf:Qwen/Qwen2-7B-GGUF", Backend: "cuda", Device: 0, State: api.WorkerLoading},
		{ID: "w-2", Node: "cpu-box", ModelRef: "/models/tiny llama.gguf", Backend: "cpu", Device: 0, State: api.WorkerFailed, ExitCode: intPtr(1)},
		{ID: "w-3", Node: "gpu-1", ModelRef: "hf:Qwen/Qwen2-7B-GGUF", Backend: "rocm", Device: 0, State: api.WorkerIdle},
	} {
		mustRegister(t, r, w.Node, w, t0)
	}
	tests := []struct {
		name string
		f    api.WorkerFilter
		want []string
	}{
		{"everything, by node then id", api.WorkerFilter{},
			[]string{"cpu-box/w-2", "gpu-1/w-10", "gpu-1/w-3", "gpu-1/w-5", "gpu-2/w-1", "gpu-2/w-9"}},
		{"node", api.WorkerFilter{Node: "gpu-1"}, []string{"gpu-1/w-10", "gpu-1/w-3", "gpu-1/w-5"}},
		{"unknown node", api.WorkerFilter{Node: "gpu-7"}, []string{}},
		{"model", api.WorkerFilter{Model: "/models/tiny llama.gguf"}, []string{"cpu-box/w-2", "gpu-1/w-5"}},
		{"capability cuda:0", api.WorkerFilter{Capability: "cuda:0"}, []string{"gpu-1/w-10", "gpu-2/w-1"}},
		{"capability cuda:1", api.WorkerFilter{Capability: "cuda:1"}, []string{"gpu-2/w-9"}},
		{"capability cpu", api.WorkerFilter{Capability: "cpu"}, []string{"cpu-box/w-2", "gpu-1/w-5"}},
		{"capability of another backend", api.WorkerFilter{Capability: "rocm:0"}, []string{"gpu-1/w-3"}},
		{"capability nobody has", api.WorkerFilter{Capability: "cuda:7"}, []string{}},
		{"state", api.WorkerFilter{State: api.WorkerIdle}, []string{"gpu-1/w-3", "gpu-1/w-5", "gpu-2/w-1"}},
		{"every field", api.WorkerFilter{Node: "gpu-2", Model: "hf:Qwen/Qwen2-7B-GGUF", Capability: "cuda:0", State: api.WorkerIdle},
			[]string{"gpu-2/w-1"}},
		{"node and a state it lacks", api.WorkerFilter{Node: "gpu-2", State: api.WorkerFailed}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.List(tt.f)
			if got == nil {
				t.Fatal("List returned nil, want an empty slice")
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("List(%+v) = %v, want %v", tt.f, ids(got), tt.want)
			}
		})
	}
}

// TestMatcherAgreesWithWorkerFilter pins List's allocation-free matching to
// api.WorkerFilter.Match, including capability strings no worker has.
func TestMatcherAgreesWithWorkerFilter(t *testing.T) {
	var workers []api.Worker
	for _, backend := range []string{"cpu", "cuda", "rocm", "cuda-12", "", "cpu2"} {
		for _, device := range []int{0, 1, 10, 255} {
			workers = append(workers, api.Worker{ID: "w", Node: "gpu-1", ModelRef: "m", Backend: backend, Device: device, State: api.WorkerIdle})
		}
	}
	capabilities := []string{
		"", "cpu", "cpu:0", "cpu:1", "cuda", "cuda:", "cuda:0", "cuda:1", "cuda:01", "cuda:+1", "cuda:-0",
		"cuda:10", "cuda:255", "cuda:256", "cuda-12:1", "rocm:0", ":0", "cuda:0:0", "cpu2:0", "CUDA:0", " cuda:0",
	}
	for _, c := range capabilities {
		for _, f := range []api.WorkerFilter{
			{Capability: c},
			{Capability: c, Node: "gpu-1", Model: "m", State: api.WorkerIdle},
			{Capability: c, State: api.WorkerBusy},
		} {
			m := newMatcher(f)
			for _, w := range workers {
				if got, want := m.match(&w), f.Match(w); got != want {
					t.Errorf("filter %+v on %s: match = %v, api.WorkerFilter.Match = %v", f, fmt.Sprintf("%s/%d", w.Backend, w.Device), got, want)
				}
			}
		}
	}
}
