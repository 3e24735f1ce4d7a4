package main

import (
	"fmt"
	"io"

	"github.com/rbee-fleet/rbee/shared/api"
)

// renderDevices writes a node's devices as its agent last reported them:
// one CPU line and one line per GPU with its memory. Nothing is written
// before the agent reported.
func renderDevices(w io.Writer, d *api.Devices) {
	if d == nil {
		return
	}
	cpu := fmt.Sprintf("%d cores", d.CPU.Cores)
	if d.CPU.RAMBytes > 0 {
		cpu += ", " + gib(d.CPU.RAMBytes) + " RAM"
		if d.CPU.RAMFreeBytes > 0 {
			cpu += " (" + gib(d.CPU.RAMFreeBytes) + " free)"
		}
	}
	field(w, "CPU", cpu)
	if len(d.GPUs) == 0 {
		field(w, "GPUs", "none")
	}
	for _, g := range d.GPUs {
		field(w, fmt.Sprintf("GPU %d", g.Index), fmt.Sprintf("%s, %s VRAM (%s free)",
			clean(g.Name), gib(g.MemoryTotalByte), gib(g.MemoryFreeByte)))
	}
}

// gib formats bytes in GiB with one decimal.
func gib(bytes int64) string {
	return fmt.Sprintf("%.1f GiB", float64(bytes)/(1<<30))
}
