//go:build unix

package devices

// These tests run fake nvidia-smi scripts, so they need /bin/sh.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// testRAM is the MemTotal of the meminfo file the tests use.
const testRAM = 16303740 * 1024

func TestDetectTwoGPUs(t *testing.T) {
	dir := t.TempDir()
	// Written out of order: Detect sorts.
	if _, err := WriteFakeNvidiaSMI(dir, []api.GPU{rtx3060, rtx3090}); err != nil {
		t.Fatal(err)
	}
	prependPath(t, dir)
	got := testDetector(t, 0).Detect(t.Context(), testLogger(t, nil))
	want := api.Devices{
		CPU:          api.CPU{Cores: runtime.NumCPU(), RAMBytes: testRAM},
		GPUs:         []api.GPU{rtx3090, rtx3060},
		Capabilities: []string{"cpu", "cuda:0", "cuda:1"},
	}
	checkDevices(t, got, want)
}

func TestDetectWithoutNvidiaSMI(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	got := testDetector(t, 0).Detect(t.Context(), testLogger(t, nil))
	checkDevices(t, got, cpuOnly())
}

func TestDetectNvidiaSMIFails(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\" >&2\nexit 9\n")
	prependPath(t, dir)
	var logs bytes.Buffer
	got := testDetector(t, 0).Detect(t.Context(), testLogger(t, &logs))
	want := cpuOnly()
	want.Warnings = []string{filepath.Join(dir, "nvidia-smi") +
		`: exit status 9: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."; ` +
		"no GPUs are used; run `nvidia-smi` on this node to see why"}
	checkDevices(t, got, want)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "exit status 9") {
		t.Errorf("the warning was not logged at warn level; logs:\n%s", logs.String())
	}
}

func TestDetectSkipsBadLines(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "echo '0, NVIDIA GeForce RTX 3090, 24576, 23912'\necho '1, NVIDIA GeForce RTX 3060'\n")
	prependPath(t, dir)
	got := testDetector(t, 0).Detect(t.Context(), testLogger(t, nil))
	want := api.Devices{
		CPU:          api.CPU{Cores: runtime.NumCPU(), RAMBytes: testRAM},
		GPUs:         []api.GPU{rtx3090},
		Capabilities: []string{"cpu", "cuda:0"},
		Warnings:     []string{"nvidia-smi line 2 skipped: want 4 fields (index, name, memory.total, memory.free), got 2"},
	}
	checkDevices(t, got, want)
}

func TestDetectRunsTheQuery(t *testing.T) {
	dir := t.TempDir()
	args := filepath.Join(dir, "args")
	writeScript(t, dir, "printf '%s\\n' \"$@\" >'"+args+"'\n")
	prependPath(t, dir)
	testDetector(t, 0).Detect(t.Context(), testLogger(t, nil))
	got, err := os.ReadFile(args)
	if err != nil {
		t.Fatal(err)
	}
	if want := "--query-gpu=index,name,memory.total,memory.free\n--format=csv,noheader,nounits\n"; string(got) != want {
		t.Errorf("nvidia-smi got arguments %q, want %q", got, want)
	}
}

func TestDetectTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "sleep.pid")
	// The sleep is a grandchild that holds nvidia-smi's stdout: killing the
	// script alone would leave Detect waiting for it.
	writeScript(t, dir, "sleep 60 &\necho $! >'"+pidFile+"'\nwait\n")
	prependPath(t, dir)
	start := time.Now()
	got := testDetector(t, 200*time.Millisecond).Detect(t.Context(), testLogger(t, nil))
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Detect took %v with a 200ms timeout", elapsed)
	}
	want := cpuOnly()
	want.Warnings = []string{"nvidia-smi gave no answer within 200ms; no GPUs are used; run `nvidia-smi` on this node to see why"}
	checkDevices(t, got, want)
	awaitGone(t, pidFile)
}

func TestDetectInterrupted(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "sleep 60\n")
	prependPath(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	got := testDetector(t, time.Minute).Detect(ctx, testLogger(t, nil))
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Detect took %v to see ctx end", elapsed)
	}
	want := cpuOnly()
	want.Warnings = []string{"nvidia-smi interrupted: context canceled; no GPUs are used"}
	checkDevices(t, got, want)
}

func TestDetectUnreadableMeminfo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	d := Detector{meminfo: filepath.Join(t.TempDir(), "meminfo")}
	got := d.Detect(t.Context(), testLogger(t, nil))
	want := cpuOnly()
	want.CPU.RAMBytes = 0
	want.Warnings = []string{"total RAM unknown, reported as 0: open " + d.meminfo + ": no such file or directory"}
	checkDevices(t, got, want)
}

func TestDetectNilLogger(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "exit 1\n")
	prependPath(t, dir)
	if got := testDetector(t, 0).Detect(t.Context(), nil); len(got.Warnings) != 1 {
		t.Errorf("warnings %q, want one", got.Warnings)
	}
}

func TestWriteFakeNvidiaSMIRoundTrip(t *testing.T) {
	dir := t.TempDir()
	gpus := []api.GPU{
		{Index: 0, Name: `Quote's "GPU" $HOME ` + "`id`" + ` \n %s`, MemoryTotalByte: 8192 * mib, MemoryFreeByte: 100 * mib},
		{Index: 3, Name: "Ünïcode GPU", MemoryTotalByte: 1024 * mib, MemoryFreeByte: 1024*mib + 12345}, // free rounds down
	}
	if _, err := WriteFakeNvidiaSMI(dir, gpus); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir) // the fake needs nothing else
	got := testDetector(t, 0).Detect(t.Context(), testLogger(t, nil))
	gpus[1].MemoryFreeByte = 1024 * mib
	checkDevices(t, got, api.Devices{
		CPU:          api.CPU{Cores: runtime.NumCPU(), RAMBytes: testRAM},
		GPUs:         gpus,
		Capabilities: []string{"cpu", "cuda:0", "cuda:3"},
	})
}

func TestWriteFakeNvidiaSMIWithoutGPUs(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteFakeNvidiaSMI(dir, nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	checkDevices(t, testDetector(t, 0).Detect(t.Context(), testLogger(t, nil)), cpuOnly())
}

func TestWriteFakeNvidiaSMIRejectsNewlines(t *testing.T) {
	_, err := WriteFakeNvidiaSMI(t.TempDir(), []api.GPU{{Index: 0, Name: "two\nlines"}})
	if err == nil {
		t.Error("WriteFakeNvidiaSMI took a name with a newline")
	}
}

// testDetector returns a Detector with timeout that reads a fixed meminfo.
func testDetector(t *testing.T, timeout time.Duration) Detector {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meminfo")
	data := "MemTotal:       16303740 kB\nMemFree:         1204420 kB\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return Detector{Timeout: timeout, meminfo: path}
}

// cpuOnly is what testDetector finds without GPUs.
func cpuOnly() api.Devices {
	return api.Devices{
		CPU:          api.CPU{Cores: runtime.NumCPU(), RAMBytes: testRAM},
		GPUs:         []api.GPU{},
		Capabilities: []string{"cpu"},
	}
}

func checkDevices(t *testing.T, got, want api.Devices) {
	t.Helper()
	if got.CPU != want.CPU {
		t.Errorf("CPU %+v, want %+v", got.CPU, want.CPU)
	}
	if got.GPUs == nil || !slices.Equal(got.GPUs, want.GPUs) {
		t.Errorf("GPUs %+v, want %+v (never nil)", got.GPUs, want.GPUs)
	}
	if !slices.Equal(got.Capabilities, want.Capabilities) {
		t.Errorf("capabilities %q, want %q", got.Capabilities, want.Capabilities)
	}
	if !slices.Equal(got.Warnings, want.Warnings) {
		t.Errorf("warnings:\n got %q\nwant %q", got.Warnings, want.Warnings)
	}
}

// testLogger logs to the test's output and to also, if not nil.
func testLogger(t *testing.T, also io.Writer) *slog.Logger {
	t.Helper()
	w := t.Output()
	if also != nil {
		w = io.MultiWriter(w, also)
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// writeScript writes an executable nvidia-smi into dir running body.
func writeScript(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "nvidia-smi"), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// prependPath puts dir first on PATH for the test.
func prependPath(t *testing.T, dir string) {
	t.Helper()
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// awaitGone waits until the process whose pid is in pidFile has ended
// (or is a zombie waiting for init to reap it).
func awaitGone(t *testing.T, pidFile string) {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file %q: %v", data, err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) || isZombie(pid) {
			return
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("nvidia-smi's child %d still runs after Detect returned", pid)
}

// isZombie reports whether /proc says pid has exited but is not reaped.
func isZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, ok := bytes.Cut(stat, []byte(") "))
	return ok && len(rest) > 0 && rest[0] == 'Z'
}
