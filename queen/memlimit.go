package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryFiles are where cgroup v2 and v1 give the memory limit of
// the queen's cgroup.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// memoryLimitShare is the share of its cgroup's memory limit that
// `queen serve` holds its Go heap under by default.
const memoryLimitShare = 0.9

// setMemoryLimit gives `queen serve` a soft memory limit of 90 % of its
// cgroup's memory limit, so the garbage collector works harder near the
// limit instead of the kernel killing the queen: only when the operator
// set no GOMEMLIMIT and the cgroup has a limit. It is a safety net; the
// queen's memory figures (README: Benchmarks) do not rely on it.
func setMemoryLimit() {
	for _, f := range cgroupMemoryFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n := memoryLimit(os.Getenv("GOMEMLIMIT"), string(b)); n > 0 {
			debug.SetMemoryLimit(n)
		}
		return
	}
}

// memoryLimit returns the soft memory limit for a cgroup limit file's
// content cgroupMax, or 0 for none: GOMEMLIMIT set (the runtime read
// it), no limit ("max", or the huge number cgroup v1 shows), or a content
// that is not a number.
func memoryLimit(gomemlimit, cgroupMax string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(cgroupMax), 10, 64)
	if gomemlimit != "" || err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return int64(float64(n) * memoryLimitShare)
}
