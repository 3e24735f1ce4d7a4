package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// TestRotateTokensWithoutRestarts rotates the tokens of a real agent with a
// real worker over real sshd: agent and worker keep their pids, the old
// hive token and the old agent token are refused, the new ones work.
func TestRotateTokensWithoutRestarts(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Loopback, Hosts: 1, Prefix: "rot"})
	h := f.Hosts[0]
	q := startWorkerQueen(t, "127.0.0.1")
	// Direct HTTP, so the test can call the agent with either token itself.
	req := addRequest(f, h, h.Name)
	req.AgentPort, req.Transport = h.AgentPort, api.TransportHTTP
	if st := q.call(t, "POST", "/v1/hives", req, nil); st != http.StatusCreated {
		t.Fatalf("add %s: status %d", h.Name, st)
	}
	rep, _ := installNodes(t, q.queen, api.InstallRequest{All: true, Method: "upload"})
	requireResults(t, rep, api.ResultInstalled)
	w := q.mustSpawn(t, api.SpawnWorkerRequest{Node: h.Name, ModelRef: "hf:test/rotate"})
	before := hiveStatus(t, q.queen, h.Name)
	oldCfg := readAgentConfig(t, h)
	oldAgentToken, err := q.reg.AgentToken(t.Context(), h.Name)
	if err != nil {
		t.Fatal(err)
	}

	events := q.stream(t, "POST", "/v1/hives/"+h.Name+"/rotate-token", nil)
	if last := events[len(events)-1]; last.Error != nil {
		t.Fatalf("rotate-token: %s", eventsText(events))
	}

	newCfg := readAgentConfig(t, h)
	newAgentToken, _ := q.reg.AgentToken(t.Context(), h.Name)
	if newCfg.HiveToken == oldCfg.HiveToken || newAgentToken == oldAgentToken || newCfg.QueenTokenSHA256 == oldCfg.QueenTokenSHA256 {
		t.Fatal("the tokens did not change")
	}
	after := hiveStatus(t, q.queen, h.Name)
	if after.AgentPID != before.AgentPID || !alive(w.PID) {
		t.Errorf("agent pid %d → %d, worker %d alive %v: want no restarts", before.AgentPID, after.AgentPID, w.PID, alive(w.PID))
	}
	if got := beatWith(t, q.queen, h.Name, oldCfg.HiveToken, 1); got != http.StatusUnauthorized {
		t.Errorf("heartbeat with the old hive token: %d, want 401", got)
	}
	for tok, want := range map[string]int{oldAgentToken: http.StatusUnauthorized, newAgentToken: http.StatusOK} {
		if got := agentList(t, after.AgentURL, tok); got != want {
			t.Errorf("agent list with the %s agent token: %d, want %d", map[bool]string{true: "new", false: "old"}[tok == newAgentToken], got, want)
		}
	}
	if n := getNode(t, q.queen, h.Name); n.Status != api.StatusOnline {
		t.Errorf("status after rotation %q, want online", n.Status)
	}
}

func readAgentConfig(t *testing.T, h *fleet.Host) api.AgentConfig {
	t.Helper()
	var cfg api.AgentConfig
	data, err := os.ReadFile(filepath.Join(h.InstallDir, "hive-agent.json"))
	if err != nil || json.Unmarshal(data, &cfg) != nil {
		t.Fatalf("read the agent config: %v", err)
	}
	return cfg
}

// beatWith sends a heartbeat of process pid without workers for node with
// token and returns the status.
func beatWith(t *testing.T, q *queen, node, token string, pid int) int {
	t.Helper()
	body, _ := json.Marshal(api.HeartbeatRequest{AgentVersion: "x", PID: pid, Workers: []api.Worker{}})
	req, _ := http.NewRequest("POST", q.url+"/v1/hives/"+node+"/heartbeat", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func agentList(t *testing.T, agentURL, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", agentURL+"/v1/workers/list", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
