package main

// Resident memory of the real hive-agent binary. Run it alone, without
// -race:
//
//	go test -run '^$' -bench AgentIdleRSS -benchtime 1x ./hive-agent/

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// idleBeatInterval is the interval the benchmark's queen asks for.
const idleBeatInterval = 200 * time.Millisecond

// BenchmarkAgentIdleRSS measures VmRSS of `hive-agent serve` with no
// workers, after ten heartbeats (about 2 s at the 200 ms interval its
// queen asks for); target ≤ 20 MB. It also reports the peak, VmHWM.
//
//	go test -run '^$' -bench AgentIdleRSS -benchtime 1x ./hive-agent/
func BenchmarkAgentIdleRSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skipf("no /proc/self/status (%v): RSS is read from Linux procfs; run this benchmark on Linux", err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		b.Skip("no go on PATH to build hive-agent; install Go or add it to PATH")
	}
	bin := buildAgent(b)
	var beats atomic.Int64
	answer, _ := json.Marshal(api.HeartbeatResponse{IntervalMS: idleBeatInterval.Milliseconds()})
	queen := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/heartbeat") {
			beats.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	b.Cleanup(queen.Close)

	var rss, hwm int64
	for b.Loop() {
		rss, hwm = idleAgentRSS(b, bin, queen.URL, &beats)
	}
	b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
	b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MB")
}

// idleAgentRSS starts an agent against queenURL, waits for ten more
// heartbeats, reads its memory and stops it with SIGTERM.
func idleAgentRSS(b *testing.B, bin, queenURL string, beats *atomic.Int64) (rss, hwm int64) {
	b.Helper()
	dir := b.TempDir()
	cfg := filepath.Join(dir, "hive-agent.json")
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	listen := benchFreeAddr(b)
	benchWriteConfig(b, cfg, api.AgentConfig{NodeName: "gpu-1", QueenURL: queenURL,
		HiveToken: hex.EncodeToString(token), Listen: listen})
	cmd := exec.Command(bin, "serve", "--config", cfg)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start hive-agent: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer benchStop(b, cmd, exited, stderr)

	from := beats.Load()
	deadline := time.Now().Add(10 * time.Second)
	for beats.Load() < from+10 {
		select {
		case <-exited:
			b.Fatalf("hive-agent exited:\n%s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("hive-agent sent %d heartbeats in 10 s, want 10:\n%s", beats.Load()-from, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return benchProcMemory(b, cmd.Process.Pid)
}

// benchStop sends SIGTERM and waits up to 10 s, then kills; a clean stop
// exits 0.
func benchStop(b *testing.B, cmd *exec.Cmd, exited <-chan struct{}, stderr *syncBuffer) {
	b.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			b.Errorf("hive-agent exited %d after SIGTERM:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		b.Errorf("hive-agent still running 10 s after SIGTERM; killed:\n%s", stderr.String())
	}
}

// benchWriteConfig writes cfg as the agent's config, mode 0600.
func benchWriteConfig(b *testing.B, path string, cfg api.AgentConfig) {
	b.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
}

// benchFreeAddr returns a loopback address that was free a moment ago.
func benchFreeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// benchProcMemory returns VmRSS and VmHWM of pid in bytes.
func benchProcMemory(b *testing.B, pid int) (rss, hwm int64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		key, val, _ := strings.Cut(line, ":")
		if key != "VmRSS" && key != "VmHWM" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/status: %q: %v", pid, line, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 {
		b.Fatalf("/proc/%d/status has no VmRSS", pid)
	}
	return rss, hwm
}
