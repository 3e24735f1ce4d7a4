package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/hive-agent/devices"
	"github.com/rbee-fleet/rbee/shared/api"
)

var (
	testRTX3090 = api.GPU{Index: 0, Name: "NVIDIA GeForce RTX 3090", MemoryTotalByte: 24576 << 20, MemoryFreeByte: 23912 << 20}
	testRTX3060 = api.GPU{Index: 1, Name: "NVIDIA GeForce RTX 3060", MemoryTotalByte: 12288 << 20, MemoryFreeByte: 11950 << 20}
)

func TestDevicesCommandJSON(t *testing.T) {
	dir := t.TempDir()
	if _, err := devices.WriteFakeNvidiaSMI(dir, []api.GPU{testRTX3060, testRTX3090}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := runDevices(t, dir+string(os.PathListSeparator)+os.Getenv("PATH"), "--json")
	var got api.Devices
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("hive-agent devices --json printed %q: %v", stdout, err)
	}
	if got.CPU.Cores != runtime.NumCPU() {
		t.Errorf("cpu cores %d, want %d", got.CPU.Cores, runtime.NumCPU())
	}
	if _, err := os.Stat("/proc/meminfo"); err == nil && got.CPU.RAMBytes <= 0 {
		t.Errorf("ram_bytes %d with /proc/meminfo readable", got.CPU.RAMBytes)
	}
	if want := []api.GPU{testRTX3090, testRTX3060}; !slices.Equal(got.GPUs, want) {
		t.Errorf("gpus %+v, want %+v", got.GPUs, want)
	}
	if want := []string{"cpu", "cuda:0", "cuda:1"}; !slices.Equal(got.Capabilities, want) {
		t.Errorf("capabilities %q, want %q", got.Capabilities, want)
	}
	if len(got.Warnings) != 0 || stderr != "" {
		t.Errorf("warnings %q, stderr %q; want none", got.Warnings, stderr)
	}
}

func TestDevicesCommandWithoutGPU(t *testing.T) {
	stdout, _ := runDevices(t, t.TempDir())
	if !strings.Contains(stdout, "\nGPUs: none\ncapabilities: cpu\n") || !strings.HasPrefix(stdout, "CPU: ") {
		t.Errorf("hive-agent devices printed:\n%s\nwant the CPU, \"GPUs: none\" and \"capabilities: cpu\"", stdout)
	}
}

func TestDevicesCommandWarns(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'NVIDIA-SMI has failed because it couldn'\"'\"'t communicate with the NVIDIA driver.' >&2\nexit 9\n"
	if err := os.WriteFile(dir+"/nvidia-smi", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := runDevices(t, dir, "--json")
	var got api.Devices
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("hive-agent devices --json printed %q: %v", stdout, err)
	}
	if !slices.Equal(got.Capabilities, []string{"cpu"}) || len(got.Warnings) != 1 {
		t.Fatalf("capabilities %q, warnings %q; want cpu and one warning", got.Capabilities, got.Warnings)
	}
	if want := "warning: " + got.Warnings[0] + "\n"; !strings.Contains(stderr, want) || !strings.Contains(stderr, "exit status 9") {
		t.Errorf("stderr %q, want %q naming exit status 9", stderr, want)
	}
}

func TestPrintDevices(t *testing.T) {
	tests := []struct {
		name string
		devs api.Devices
		want string
	}{
		{
			name: "two GPUs",
			devs: api.Devices{
				CPU:          api.CPU{Cores: 16, RAMBytes: 64 << 30},
				GPUs:         []api.GPU{testRTX3090, testRTX3060},
				Capabilities: []string{"cpu", "cuda:0", "cuda:1"},
			},
			want: "CPU: 16 cores, 64.0 GiB RAM\n" +
				"GPU  NAME                     TOTAL     FREE\n" +
				"0    NVIDIA GeForce RTX 3090  24.0 GiB  23.4 GiB\n" +
				"1    NVIDIA GeForce RTX 3060  12.0 GiB  11.7 GiB\n" +
				"capabilities: cpu, cuda:0, cuda:1\n",
		},
		{
			name: "CPU only, RAM unknown",
			devs: api.Devices{CPU: api.CPU{Cores: 1}, Capabilities: []string{"cpu"}},
			want: "CPU: 1 core, RAM unknown\nGPUs: none\ncapabilities: cpu\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printDevices(&b, tt.devs); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("printDevices wrote:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

// runDevices runs `hive-agent devices args…` with PATH set to path, checks
// that it exits 0 and returns its stdout and stderr.
func runDevices(t *testing.T, path string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(buildAgent(t), append([]string{"devices"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+path)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("hive-agent devices %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}
