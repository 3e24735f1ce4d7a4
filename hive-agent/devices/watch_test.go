package devices

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestChanged(t *testing.T) {
	gpu := api.GPU{Index: 0, Name: "NVIDIA A100", MemoryTotalByte: 80 << 30, MemoryFreeByte: 70 << 30}
	base := api.Devices{CPU: api.CPU{Cores: 8, RAMBytes: 64 << 30, RAMFreeBytes: 40 << 30}, GPUs: []api.GPU{gpu}}
	with := func(f func(d *api.Devices)) api.Devices {
		d := base
		d.GPUs = append([]api.GPU(nil), base.GPUs...)
		f(&d)
		return d
	}
	tests := []struct {
		name string
		now  api.Devices
		want bool
	}{
		{name: "the same", now: base, want: false},
		{name: "RAM free moved a little", now: with(func(d *api.Devices) { d.CPU.RAMFreeBytes -= 100 << 20 }), want: false},
		{name: "RAM free moved a lot", now: with(func(d *api.Devices) { d.CPU.RAMFreeBytes -= 4 << 30 }), want: true},
		{name: "VRAM free moved a little", now: with(func(d *api.Devices) { d.GPUs[0].MemoryFreeByte -= 512 << 20 }), want: false},
		{name: "VRAM free moved a lot", now: with(func(d *api.Devices) { d.GPUs[0].MemoryFreeByte -= 10 << 30 }), want: true},
		{name: "a GPU appeared", now: with(func(d *api.Devices) { d.GPUs = append(d.GPUs, api.GPU{Index: 1, Name: "x"}) }), want: true},
		{name: "the GPU vanished", now: with(func(d *api.Devices) { d.GPUs = nil }), want: true},
		{name: "another GPU at index 0", now: with(func(d *api.Devices) { d.GPUs[0].Name = "NVIDIA H100" }), want: true},
		{name: "cores", now: with(func(d *api.Devices) { d.CPU.Cores = 4 }), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Changed(base, tt.now); got != tt.want {
				t.Errorf("Changed = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWatcherDetectsAgain: Current is the first devices until an interval
// passed, then what detection finds.
func TestWatcherDetectsAgain(t *testing.T) {
	var calls atomic.Int32
	detect := func(context.Context) api.Devices {
		calls.Add(1)
		return api.Devices{CPU: api.CPU{Cores: 2}, GPUs: []api.GPU{{Index: 0, Name: "new"}}}
	}
	w := NewWatcher(api.Devices{CPU: api.CPU{Cores: 2}}, detect, 20*time.Millisecond)
	if got := w.Current(); len(got.GPUs) != 0 {
		t.Fatalf("before Run: %+v, want the first devices", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(w.Current().GPUs) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := w.Current(); len(got.GPUs) != 1 || calls.Load() == 0 {
		t.Errorf("after an interval: %+v (%d detections), want the new GPU", got, calls.Load())
	}
}
