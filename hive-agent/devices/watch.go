package devices

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// DefaultRedetect is how often a Watcher detects the devices again unless
// told otherwise.
const DefaultRedetect = 30 * time.Second

// Watcher keeps the node's devices current: it detects them again every
// interval, so a GPU that appears or vanishes after the agent started is
// seen. Current is cheap (no detection), for every heartbeat.
type Watcher struct {
	detect   func(context.Context) api.Devices
	interval time.Duration
	cur      atomic.Pointer[api.Devices]
}

// NewWatcher returns a Watcher holding first, that detects with detect
// every interval (DefaultRedetect when 0) once Run runs.
func NewWatcher(first api.Devices, detect func(context.Context) api.Devices, interval time.Duration) *Watcher {
	if interval <= 0 {
		interval = DefaultRedetect
	}
	w := &Watcher{detect: detect, interval: interval}
	w.cur.Store(&first)
	return w
}

// Current returns the devices last detected.
func (w *Watcher) Current() api.Devices { return *w.cur.Load() }

// Run detects the devices every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d := w.detect(ctx)
			if ctx.Err() == nil {
				w.cur.Store(&d)
			}
		}
	}
}

// Changed reports whether now differs from before enough to tell the
// queen: another set of GPUs (index, name or total memory), other cores or
// RAM total, or a free amount (RAM or a GPU's memory) that moved by more
// than 1/64 of its total. Smaller moves are noise that would make every
// heartbeat differ.
func Changed(before, now api.Devices) bool {
	if before.CPU.Cores != now.CPU.Cores || before.CPU.RAMBytes != now.CPU.RAMBytes ||
		moved(before.CPU.RAMFreeBytes, now.CPU.RAMFreeBytes, now.CPU.RAMBytes) || len(before.GPUs) != len(now.GPUs) {
		return true
	}
	for i, b := range before.GPUs {
		n := now.GPUs[i]
		if b.Index != n.Index || b.Name != n.Name || b.MemoryTotalByte != n.MemoryTotalByte ||
			moved(b.MemoryFreeByte, n.MemoryFreeByte, n.MemoryTotalByte) {
			return true
		}
	}
	return false
}

// moved reports whether a free amount changed by more than total/64.
func moved(a, b, total int64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d > total/64
}
