package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rbee-fleet/rbee/hive-agent/devices"
	"github.com/rbee-fleet/rbee/hive-agent/supervisor"
	"github.com/rbee-fleet/rbee/shared/api"
)

// TestMetricsParseAndShowDeviceMemory: the agent's /metrics parses with
// the Prometheus text parser and has the worker counts by state and the
// memory of the GPUs nvidia-smi (a fake one on PATH) reports.
func TestMetricsParseAndShowDeviceMemory(t *testing.T) {
	fake := t.TempDir()
	gpus := []api.GPU{{Index: 0, Name: `Fake "GPU" A`, MemoryTotalByte: 8 << 30, MemoryFreeByte: 2 << 30}}
	if _, err := devices.WriteFakeNvidiaSMI(fake, gpus); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", fake+":/usr/bin:/bin")
	const queenToken = "queen-token-0123456789abcdef0123"
	sum := sha256.Sum256([]byte(queenToken))
	sup := supervisor.New(supervisor.Config{Node: "gpu-1", StateFile: filepath.Join(t.TempDir(), "workers.json")})
	srv := httptest.NewServer(Handler(Config{Workers: sup, QueenTokenSHA256: hex.EncodeToString(sum[:]),
		Devices: func(ctx context.Context) api.Devices { return devices.Detect(ctx, slog.New(slog.DiscardHandler)) }}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+queenToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("agent metrics do not parse: %v", err)
	}
	if n := len(families["rbee_agent_workers"].GetMetric()); n != len(api.WorkerStates()) {
		t.Errorf("rbee_agent_workers has %d series, want one per state", n)
	}
	for name, want := range map[string]float64{"rbee_agent_gpu_memory_total_bytes": 8 << 30, "rbee_agent_gpu_memory_free_bytes": 2 << 30} {
		m := families[name].GetMetric()
		if len(m) != 1 || m[0].GetGauge().GetValue() != want || m[0].GetLabel()[1].GetValue() != `Fake "GPU" A` {
			t.Errorf("%s = %v, want one GPU with %v", name, m, want)
		}
	}
	if families["rbee_agent_ram_bytes"].GetMetric()[0].GetGauge().GetValue() <= 0 {
		t.Error("rbee_agent_ram_bytes is not positive")
	}
}
