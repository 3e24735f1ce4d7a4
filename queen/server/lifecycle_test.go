package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// TestInstallPathIsNotTheHomeOnTheNode adds and updates nodes whose install
// path is the SSH user's home as the node resolves it: refused with 400
// UNSAFE_PATH before anything is saved. The home is moved (HOME of the
// host's SSH sessions) to a directory no static rule refuses.
func TestInstallPathIsNotTheHomeOnTheNode(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "home"})
	h := f.Hosts[0]
	home := filepath.Join(h.Dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.SetSessionEnv(t.Context(), h, "HOME="+home); err != nil {
		t.Fatal(err)
	}
	q := startQueen(t, filepath.Join(t.TempDir(), "beehives.db"))
	for i, p := range []string{home, home + "/", filepath.Dir(home) + "/./home//"} {
		t.Run("add "+p, func(t *testing.T) {
			req := addRequest(f, h, fmt.Sprintf("home-%d", i))
			req.InstallPath = p
			wantUnsafe(t, q, "POST", "/v1/hives", req, home)
			assertAbsent(t, q, req.Name)
		})
	}
	t.Run("under the home is fine, cleaned", func(t *testing.T) {
		req := addRequest(f, h, "home-ok")
		req.InstallPath = "~//rbee/./"
		var n api.Node
		if st := q.call(t, "POST", "/v1/hives", req, &n); st != http.StatusCreated || n.InstallPath != home+"/rbee" {
			t.Fatalf("add ~//rbee/./: %d %+v, want 201 with %s/rbee", st, n, home)
		}
	})
	t.Run("update to the home", func(t *testing.T) {
		wantUnsafe(t, q, "PATCH", "/v1/hives/home-ok", api.UpdateNodeRequest{InstallPath: &home}, home)
		if n := getNode(t, q, "home-ok"); n.InstallPath != home+"/rbee" {
			t.Errorf("install path %q after a refused update", n.InstallPath)
		}
	})
	t.Run("static rules answer before SSH", func(t *testing.T) {
		for _, p := range []string{"~", "~/", "/", "/etc", "/opt/", "/usr", "/proc/1"} {
			req := addRequest(f, h, "static")
			req.InstallPath = p
			wantUnsafe(t, q, "POST", "/v1/hives", req, "")
		}
	})
}

// wantUnsafe sends a request that must be refused with 400 UNSAFE_PATH
// naming install_path (and mention, when not empty) with a hint of ~/rbee.
func wantUnsafe(t *testing.T, q *queen, method, path string, body any, mention string) {
	t.Helper()
	var eb api.ErrorBody
	st := q.call(t, method, path, body, &eb)
	if st != http.StatusBadRequest || eb.Error.Code != api.CodeUnsafePath || !strings.Contains(eb.Error.Message, "install_path") ||
		!strings.Contains(eb.Error.Message, mention) || !strings.Contains(eb.Error.Hint, "~/rbee") {
		t.Errorf("%s %s %+v: %d %+v, want 400 UNSAFE_PATH naming install_path and %q", method, path, body, st, eb.Error, mention)
	}
}

// TestNodeLifecycleWithRealAgent runs remove-node and hive stop against a
// real agent installed over SSH: remove-node of a running agent is refused
// naming its pid and workers; hive stop sets stopped at once, kept across a
// queen restart and the stale limit, and its last event names the agent's
// pid and its one worker; a spawn then answers HIVE_STOPPED; an
// agent started by hand turns the node online; remove-node --force forgets
// it and the agent's token is then answered 410 NODE_REMOVED until the node
// is added again, when install gives it a fresh token; uninstall then
// remove-node (the CLI's --uninstall) works.
func TestNodeLifecycleWithRealAgent(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Loopback, Hosts: 1, Prefix: "life"})
	h := f.Hosts[0]
	q := startWorkerQueen(t, "127.0.0.1")
	dumpAgentLogs(t, f)
	addNodes(t, q.queen, f)
	rep, _ := installNodes(t, q.queen, api.InstallRequest{All: true, Method: "upload"})
	requireResults(t, rep, api.ResultInstalled)
	w := q.mustSpawn(t, api.SpawnWorkerRequest{Node: h.Name, ModelRef: "hf:test/tiny-gguf"})
	pid := hiveStatus(t, q.queen, h.Name).AgentPID

	t.Run("remove-node of a running agent is 409 naming pid and workers", func(t *testing.T) {
		eb := removeNode(t, q, h.Name, "", http.StatusConflict)
		if eb.Error.Code != api.CodeAgentRunning || !strings.Contains(eb.Error.Message, fmt.Sprintf("pid %d", pid)) ||
			!strings.Contains(eb.Error.Message, "1 worker(s)") ||
			!strings.Contains(eb.Error.Hint, "queen setup remove-node --name "+h.Name+" --uninstall") ||
			!strings.Contains(eb.Error.Hint, "queen setup uninstall --node "+h.Name) {
			t.Errorf("error %+v", eb.Error)
		}
		if n := getNode(t, q.queen, h.Name); n.Status != api.StatusOnline {
			t.Errorf("status %q after a refused remove", n.Status)
		}
	})
	t.Run("hive stop is stopped at once and stays so", func(t *testing.T) {
		events := q.stream(t, "POST", "/v1/hives/"+h.Name+"/stop", nil)
		want := fmt.Sprintf("stopped the agent (pid %d) and its 1 worker(s)", pid)
		if last := events[len(events)-1]; last.Error != nil || !strings.Contains(last.Message, want) {
			t.Errorf("last event of the stop: %q (error %+v), want %q", last.Message, last.Error, want)
		}
		if n := getNode(t, q.queen, h.Name); n.Status != api.StatusStopped {
			t.Fatalf("status %q right after stop, want stopped", n.Status)
		}
		if alive(pid) || alive(w.PID) {
			t.Errorf("agent %d or worker %d still runs", pid, w.PID)
		}
		// A beat the stopped agent sent before it ended, arriving late,
		// shows nothing that runs.
		if code := beatWith(t, q.queen, h.Name, hiveToken(t, h), pid); code != http.StatusOK {
			t.Errorf("late beat of the stopped agent: %d", code)
		}
		if n := getNode(t, q.queen, h.Name); n.Status != api.StatusStopped {
			t.Errorf("status %q after a late beat of the stopped agent, want stopped", n.Status)
		}
		q.restart(t)
		time.Sleep(workerStale + time.Second) // past the stale limit of the new queen
		if n := getNode(t, q.queen, h.Name); n.Status != api.StatusStopped {
			t.Errorf("status %q after a restart and the stale limit, want stopped", n.Status)
		}
	})
	t.Run("spawn on a stopped node is 409 HIVE_STOPPED", func(t *testing.T) {
		_, code, eb := q.spawn(t, api.SpawnWorkerRequest{Node: h.Name, ModelRef: "hf:test/tiny-gguf"})
		if code != http.StatusConflict || eb.Error.Code != api.CodeHiveStopped ||
			!strings.Contains(eb.Error.Message, "agent of "+h.Name+" is stopped; start it with `queen hive start --node "+h.Name+"`") {
			t.Errorf("spawn: %d %+v", code, eb.Error)
		}
	})
	startAgentByHand(t, h)
	t.Run("an agent started by hand turns the node online", func(t *testing.T) {
		awaitStatus(t, q.queen, h.Name, api.StatusOnline)
	})
	oldToken := hiveToken(t, h)
	t.Run("remove-node --force forgets the node, the next heartbeat is 410", func(t *testing.T) {
		pid = hiveStatus(t, q.queen, h.Name).AgentPID
		var resp api.RemoveNodeResponse
		if st := q.call(t, "DELETE", "/v1/hives/"+h.Name+"?force=true", nil, &resp); st != http.StatusOK ||
			resp.Removed != h.Name || resp.AgentPID != pid || !strings.Contains(resp.Warning, "keeps running") {
			t.Fatalf("forced remove: %d %+v (agent pid %d)", st, resp, pid)
		}
		if !alive(pid) {
			t.Errorf("the forced remove stopped the agent %d", pid)
		}
		st, eb := beat(t, q, h.Name, oldToken)
		if st != http.StatusGone || eb.Error.Code != api.CodeNodeRemoved ||
			!strings.Contains(eb.Error.Message, "node "+h.Name+" was removed from this queen") || eb.Error.Hint == "" {
			t.Errorf("heartbeat after remove: %d %+v, want 410 NODE_REMOVED", st, eb.Error)
		}
	})
	t.Run("re-adding clears the tombstone, install gives a fresh token", func(t *testing.T) {
		addNodes(t, q.queen, f)
		if st, eb := beat(t, q, h.Name, oldToken); st != http.StatusUnauthorized {
			t.Errorf("old token after re-add: %d %+v, want 401", st, eb.Error)
		}
		rep, _ := installNodes(t, q.queen, api.InstallRequest{All: true, Method: "upload"})
		requireResults(t, rep, api.ResultInstalled)
		if hiveToken(t, h) == oldToken {
			t.Errorf("install kept the removed node's hive token")
		}
		awaitStatus(t, q.queen, h.Name, api.StatusOnline)
	})
	t.Run("uninstall then remove-node, as remove-node --uninstall does", func(t *testing.T) {
		q.hiveOp(t, h.Name, "uninstall")
		removeNode(t, q, h.Name, "", http.StatusOK)
		assertAbsent(t, q.queen, h.Name)
	})
}

// removeNode sends DELETE /v1/hives/{name}?query and checks the status.
func removeNode(t *testing.T, q *restartableQueen, name, query string, want int) api.ErrorBody {
	t.Helper()
	var eb api.ErrorBody
	if st := q.call(t, "DELETE", "/v1/hives/"+name+query, nil, &eb); st != want {
		t.Fatalf("remove %s: %d %+v, want %d", name, st, eb.Error, want)
	}
	return eb
}

// beat sends one empty heartbeat with an agent's hive token.
func beat(t *testing.T, q *restartableQueen, name, hiveToken string) (int, api.ErrorBody) {
	t.Helper()
	resp := q.do(t, "POST", "/v1/hives/"+name+"/heartbeat", api.HeartbeatRequest{}, hiveToken, false)
	defer resp.Body.Close()
	var eb api.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb
}

// hiveToken reads the hive token install wrote on a loopback host.
func hiveToken(t *testing.T, h *fleet.Host) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.InstallDir, "hive-agent.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg api.AgentConfig
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.HiveToken == "" {
		t.Fatalf("hive token in the agent config: %v", err)
	}
	return cfg.HiveToken
}

// startAgentByHand starts the installed agent of a loopback host as a
// person would, without the queen.
func startAgentByHand(t *testing.T, h *fleet.Host) {
	t.Helper()
	cmd := exec.Command(filepath.Join(h.InstallDir, "bin", "hive-agent"), "serve", "--config", filepath.Join(h.InstallDir, "hive-agent.json"))
	cmd.Dir = h.InstallDir
	log, err := os.OpenFile(filepath.Join(h.InstallDir, "logs", "hive-agent.log"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}
