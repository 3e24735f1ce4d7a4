package main

import (
	"bytes"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestRenderDevices: hive status and list-nodes show the devices the agent
// reported, nothing before it did.
func TestRenderDevices(t *testing.T) {
	tests := []struct {
		name string
		d    *api.Devices
		want string
	}{
		{name: "not reported yet", d: nil, want: ""},
		{name: "cpu only", d: &api.Devices{CPU: api.CPU{Cores: 2, RAMBytes: 8 << 30, RAMFreeBytes: 3 << 29}},
			want: "  CPU:               2 cores, 8.0 GiB RAM (1.5 GiB free)\n  GPUs:              none\n"},
		{name: "two GPUs", d: &api.Devices{CPU: api.CPU{Cores: 64}, GPUs: []api.GPU{
			{Index: 0, Name: "NVIDIA A100-SXM4-80GB", MemoryTotalByte: 80 << 30, MemoryFreeByte: 79 << 30},
			{Index: 1, Name: "NVIDIA A100-SXM4-80GB\x1b[31m", MemoryTotalByte: 80 << 30, MemoryFreeByte: 10 << 30}}},
			want: "  CPU:               64 cores\n" +
				"  GPU 0:             NVIDIA A100-SXM4-80GB, 80.0 GiB VRAM (79.0 GiB free)\n" +
				"  GPU 1:             NVIDIA A100-SXM4-80GB\uFFFD[31m, 80.0 GiB VRAM (10.0 GiB free)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			renderDevices(&b, tt.d)
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}
