package main

import (
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestStopResult: `workers stop` says when a worker ignored SIGTERM and
// was killed after the grace, instead of "stopped".
func TestStopResult(t *testing.T) {
	base := api.Worker{ID: "w-9b21", Node: "gpu-1", ModelRef: "hf:TheBloke/TinyLlama-GGUF", State: api.WorkerStopping}
	killed := base
	killed.Killed, killed.StopMS = true, 10012
	quick := base
	quick.StopMS = 180
	tests := []struct {
		name string
		w    api.Worker
		want string
	}{
		{name: "stopped", w: quick, want: "✅ worker w-9b21 stopped (hf:TheBloke/TinyLlama-GGUF on gpu-1)"},
		{name: "from an older agent", w: base, want: "✅ worker w-9b21 stopped (hf:TheBloke/TinyLlama-GGUF on gpu-1)"},
		{name: "killed", w: killed, want: "⚠️ worker w-9b21 (hf:TheBloke/TinyLlama-GGUF on gpu-1) killed after 10.0 s (it ignored SIGTERM)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stopResult(tt.w); got != tt.want {
				t.Errorf("stopResult = %q, want %q", got, tt.want)
			}
		})
	}
}
