package main

// Resident memory of the real hive-agent binary. Run it alone, without
// -race:
//
//	go test -run '^$' -bench AgentIdleRSS -benchtime 1x ./hive-agent/

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/procmem"
	"github.com/rbee-fleet/rbee/testenv/require"
)

// idleBeatInterval is the interval the benchmark's queen asks for.
const idleBeatInterval = 200 * time.Millisecond

// BenchmarkAgentIdleRSS measures VmRSS of `hive-agent serve` with no
// workers, after ten heartbeats (about 2 s at the 200 ms interval its
// queen asks for); target ≤ 20 MB. It also reports the peak, VmHWM.
//
//	go test -run '^$' -bench AgentIdleRSS -benchtime 1x ./hive-agent/
func BenchmarkAgentIdleRSS(b *testing.B) {
	if err := procmem.Available(); err != nil {
		require.Missing(b, "/proc of Linux ("+err.Error()+")", "run this benchmark on Linux")
	}
	require.Binary(b, "go", "install Go 1.26 and put it on PATH (scripts/install-deps.sh says how)")
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
	writeConfig(b, cfg, api.AgentConfig{NodeName: "gpu-1", QueenURL: queenURL,
		HiveToken: newToken(b), Listen: freeAddr(b)}, 0o600)
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
	rss, hwm, err := procmem.Of(cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	return rss, hwm
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
