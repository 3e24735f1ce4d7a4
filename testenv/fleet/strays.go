package fleet

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killStrays ends every process that runs from, in, or with a path inside
// the fleet folder dir: what tests started on hosts over SSH (a hive agent,
// a worker) and left running. Loopback hosts are the developer's own user,
// so this is how Close finds them; nothing outside the folder is touched.
func killStrays(dir string) {
	self := os.Getpid()
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !running(pid) {
			continue
		}
		if usesDir(pid, dir) {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for running(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if running(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// usesDir reports whether pid's executable, working directory or command
// line lies inside dir.
func usesDir(pid int, dir string) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	prefix := filepath.Clean(dir) + "/"
	for _, link := range []string{"exe", "cwd"} {
		if target, err := os.Readlink(filepath.Join(proc, link)); err == nil && strings.HasPrefix(target+"/", prefix) {
			return true
		}
	}
	cmdline, err := os.ReadFile(filepath.Join(proc, "cmdline"))
	return err == nil && strings.Contains(string(cmdline), prefix)
}

// PIDsWith returns, sorted, the running processes (not zombies) whose
// command line contains every one of parts: how tests find the agents and
// workers an install started.
func PIDsWith(parts ...string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !running(pid) {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cmd := string(bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(cmd, p) }) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}
