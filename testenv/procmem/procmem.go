// Package procmem reads the memory use of a process from Linux procfs, for
// the benchmarks that measure the real binaries.
package procmem

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrNoProcfs is returned where /proc/<pid>/status cannot be read at all.
var ErrNoProcfs = errors.New("no /proc/self/status: memory is read from Linux procfs")

// Available reports ErrNoProcfs when this machine has no procfs status files.
func Available() error {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		return fmt.Errorf("%w (%v)", ErrNoProcfs, err)
	}
	return nil
}

// Of returns the resident set (VmRSS) and its peak (VmHWM) of pid, in bytes.
func Of(pid int) (rss, hwm int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(data)) {
		key, val, _ := strings.Cut(line, ":")
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &rss
		case "VmHWM":
			dst = &hwm
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %q: %w", pid, line, err)
		}
		*dst = kb << 10
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return rss, hwm, nil
}
