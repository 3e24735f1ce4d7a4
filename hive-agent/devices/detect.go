package devices

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// DefaultTimeout bounds one run of nvidia-smi. A healthy driver answers in
// well under a second; a wedged one can hang forever.
const DefaultTimeout = 10 * time.Second

const (
	// waitDelay is how long Detect waits for nvidia-smi's output to close
	// after killing it: a grandchild that left its process group may hold it.
	waitDelay = time.Second
	// maxOutput and maxStderr bound what is kept of nvidia-smi's output.
	maxOutput = 1 << 20
	maxStderr = 4 << 10
	// maxStderrLine bounds the line of stderr a warning quotes.
	maxStderrLine = 200
	// defaultMeminfo is where Linux reports the total RAM.
	defaultMeminfo = "/proc/meminfo"
)

// Detector detects devices with options; the zero value is ready to use
// and is what Detect uses.
type Detector struct {
	// Timeout bounds the run of nvidia-smi; zero means DefaultTimeout.
	Timeout time.Duration

	// meminfo is the file read for the total RAM; empty means
	// /proc/meminfo. Tests set it.
	meminfo string
}

// Detect returns the node's devices with a zero Detector: see
// Detector.Detect.
func Detect(ctx context.Context, log *slog.Logger) api.Devices {
	return Detector{}.Detect(ctx, log)
}

// Detect returns the node's devices. The CPU is always there, with
// runtime.NumCPU cores and the MemTotal and MemAvailable of /proc/meminfo
// (0 if that cannot be read). GPUs come from nvidia-smi found on PATH: without it there are
// none, silently; if it fails, hangs past the timeout or prints lines it
// should not, those GPUs are left out. Capabilities are "cpu" then
// "cuda:<index>" per GPU in index order. Every problem is a warning, both in
// Devices.Warnings and logged to log (which may be nil) at warn level.
// When ctx ends or the timeout passes, nvidia-smi and its children are
// killed and Detect returns at once (within a second if a child escaped).
func (d Detector) Detect(ctx context.Context, log *slog.Logger) api.Devices {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var warnings []string
	ram, ramFree, err := memInfo(cmp.Or(d.meminfo, defaultMeminfo))
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("total RAM unknown, reported as 0: %v", err))
	}
	gpus, gpuWarnings := d.nvidiaGPUs(ctx)
	warnings = append(warnings, gpuWarnings...)
	for _, w := range warnings {
		log.Warn("device detection", "warning", w)
	}
	return newDevices(api.CPU{Cores: runtime.NumCPU(), RAMBytes: ram, RAMFreeBytes: ramFree}, gpus, warnings)
}

// newDevices assembles the document and its capabilities; gpus are sorted
// by index.
func newDevices(cpu api.CPU, gpus []api.GPU, warnings []string) api.Devices {
	devs := api.Devices{
		CPU:          cpu,
		GPUs:         make([]api.GPU, 0, len(gpus)),
		Capabilities: []string{api.BackendCPU},
		Warnings:     warnings,
	}
	for _, g := range gpus {
		devs.GPUs = append(devs.GPUs, g)
		devs.Capabilities = append(devs.Capabilities, api.CapabilityOf(api.BackendCUDA, g.Index))
	}
	return devs
}

// nvidiaGPUs runs nvidia-smi if it is on PATH and parses what it prints.
func (d Detector) nvidiaGPUs(ctx context.Context) ([]api.GPU, []string) {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return nil, nil // no NVIDIA driver: a CPU-only node, nothing to warn about
	}
	out, truncated, err := d.runNvidiaSMI(ctx, path)
	if err != nil {
		return nil, []string{err.Error()}
	}
	gpus, warnings := ParseNvidiaSMI(out)
	if truncated {
		warnings = append(warnings, fmt.Sprintf("nvidia-smi printed more than %d bytes; the rest is ignored", maxOutput))
	}
	return gpus, warnings
}

// runNvidiaSMI runs the query under the timeout and returns its output,
// whether it was cut at maxOutput, and an error that reads as a warning.
func (d Detector) runNvidiaSMI(ctx context.Context, path string) (out []byte, truncated bool, err error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stdout, stderr := &cappedBuffer{limit: maxOutput}, &cappedBuffer{limit: maxStderr}
	cmd := exec.CommandContext(runCtx, path, queryArgs...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	killProcessGroupOnCancel(cmd)
	err = cmd.Run()
	const noGPUs = "no GPUs are used; run `nvidia-smi` on this node to see why"
	switch {
	case ctx.Err() != nil:
		return nil, false, fmt.Errorf("nvidia-smi interrupted: %v; no GPUs are used", context.Cause(ctx))
	case runCtx.Err() != nil:
		return nil, false, fmt.Errorf("nvidia-smi gave no answer within %v; %s", timeout, noGPUs)
	case err != nil:
		if msg := firstLine(stderr.buf.Bytes()); msg != "" {
			return nil, false, fmt.Errorf("%s: %v: %s; %s", path, err, quoteCut(msg, maxStderrLine), noGPUs)
		}
		return nil, false, fmt.Errorf("%s: %v; %s", path, err, noGPUs)
	}
	return stdout.buf.Bytes(), stdout.dropped, nil
}

// firstLine returns the first non-blank line of b, trimmed.
func firstLine(b []byte) string {
	for line := range bytes.Lines(b) {
		if s := strings.TrimSpace(string(line)); s != "" {
			return s
		}
	}
	return ""
}

// cappedBuffer keeps the first limit bytes written to it and drops the
// rest, so a runaway child cannot fill the agent's memory.
type cappedBuffer struct {
	buf     bytes.Buffer
	limit   int
	dropped bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.buf.Len(); len(p) > room {
		b.buf.Write(p[:room])
		b.dropped = true
		return len(p), nil
	}
	return b.buf.Write(p)
}
