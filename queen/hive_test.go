package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestHiveStartStop(t *testing.T) {
	tests := []struct {
		command, wantPath string
		progress, done    string
		status            api.HiveStatus
	}{
		{command: "start", wantPath: "/v1/hives/gpu-1/start", progress: "starting the agent (systemd --user)",
			done: "✅ Agent of 'gpu-1' online", status: api.HiveStatus{Node: "gpu-1", Status: api.StatusOnline, AgentPID: 4242}},
		{command: "stop", wantPath: "/v1/hives/gpu-1/stop", progress: "stopping the agent (systemd --user)",
			done: "✅ Agent of 'gpu-1' stopped", status: api.HiveStatus{Node: "gpu-1", Status: api.StatusStopped}},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				answerEvents(t, w,
					api.Event{Level: api.LevelInfo, Node: "gpu-1", Message: tt.progress, ElapsedMS: 900},
					doneEvent(t, "gpu-1", tt.done, tt.status))
			})
			res := runQueen(t, q.args("hive", tt.command, "--node", "gpu-1")...)
			if res.err != nil {
				t.Fatalf("hive %s: %v", tt.command, res.err)
			}
			req := q.last(t)
			if req.method != http.MethodPost || req.path != tt.wantPath || len(req.body) != 0 {
				t.Errorf("request = %s %s %q, want POST %s without a body", req.method, req.path, req.body, tt.wantPath)
			}
			if want := "[gpu-1] " + tt.progress + " (900ms)\n[gpu-1] " + tt.done + "\n"; res.stdout != want {
				t.Errorf("stdout = %q, want %q", res.stdout, want)
			}
			res = runQueen(t, q.args("--json", "hive", tt.command, "--node", "gpu-1")...)
			if res.err != nil || strings.Count(res.stdout, "\n") != 2 || !strings.HasPrefix(res.stdout, "{") {
				t.Errorf("--json: stdout = %q, err = %v, want the 2 events as NDJSON", res.stdout, res.err)
			}
		})
	}
}

func TestHiveStopCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerEvents(t, w, api.Event{Level: api.LevelInfo, Node: "gpu-1", Message: "stopping the agent"})
		<-r.Context().Done()
	})
	stdout := &cancellingBuffer{cancel: cancel}
	res := runQueenContext(t, ctx, stdout, q.args("hive", "stop", "--node", "gpu-1")...)
	if res.err == nil || res.err.Error() != "stop cancelled" || !errors.Is(res.err, context.Canceled) {
		t.Fatalf("err = %v, want stop cancelled", res.err)
	}
	if h := hintOf(res.err); h != "check the agent with `queen hive status --node gpu-1`" {
		t.Errorf("hint = %q", h)
	}
	if want := "[gpu-1] stopping the agent\n[queen] stop cancelled\n"; res.stdout != want {
		t.Errorf("stdout = %q, want %q", res.stdout, want)
	}
}

func TestHiveStatusCommand(t *testing.T) {
	beat := time.Now().Add(-time.Minute).Unix()
	healthy := api.HiveStatus{Node: "gpu-1", Status: api.StatusOnline, AgentURL: "http://10.0.0.7:7835", AgentVersion: "3f2a9c1d4e5b",
		InstalledCommit: "3f2a9c1d4e5b6a7980112233445566778899aabb", AgentPID: 4242, LastHeartbeatUnix: beat,
		Health: api.HealthHealthy, Healthy: true, RunningVersion: "3f2a9c1d4e5b"}
	statuses := map[string]api.HiveStatus{
		"gpu-1": healthy,
		"gpu-2": {Node: "gpu-2", Status: api.StatusOffline, InstalledCommit: "3f2a9c1d4e5b", AgentURL: "http://10.0.0.8:7835",
			Health: api.HealthUnreachable, HealthError: "dial tcp 10.0.0.8:7835: connect: connection refused"},
		"gpu-3": {Node: "gpu-3", Status: api.StatusOnline, AgentURL: "http://10.0.0.9:7835", Health: api.HealthIncompatible,
			HealthError: "health answer is not a health body: invalid character 'w'"},
		"gpu-4": {Node: "gpu-4", Status: api.StatusOnline, AgentURL: "http://10.0.0.9:7835", Health: api.HealthDrift,
			HealthError: "running 0123456789ab, installed 3f2a9c1d4e5b", RunningVersion: "0123456789ab"},
	}
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method = %s, want GET", r.Method)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/hives/"), "/status")
		if st, ok := statuses[name]; ok {
			answerJSON(w, http.StatusOK, st)
			return
		}
		answerError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: "hive not found"})
	})
	t.Run("healthy", func(t *testing.T) {
		res := runQueen(t, q.args("hive", "status", "--node", "gpu-1")...)
		if res.err != nil {
			t.Fatalf("hive status: %v", res.err)
		}
		for _, want := range []string{"Hive gpu-1:\n", "  Status:            online\n", "  Agent PID:         4242\n",
			"  Installed commit:  3f2a9c1d4e5b\n", "  Last heartbeat:    " + formatUnix(beat) + " (1m0",
			"  Health:            ✅ healthy\n"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("stdout does not contain %q:\n%s", want, res.stdout)
			}
		}
	})
	tests := []struct {
		node, line, err, hint string
	}{
		{node: "gpu-2", line: "  Health:            ❌ unreachable: dial tcp 10.0.0.8:7835: connect: connection refused\n",
			err:  `agent of "gpu-2" is not healthy (unreachable): dial tcp 10.0.0.8:7835: connect: connection refused`,
			hint: "start the agent with `queen hive start --node gpu-2`, or install it with `queen setup install --node gpu-2`"},
		{node: "gpu-3", line: "  Health:            ❌ incompatible: health answer is not a health body: invalid character 'w'\n",
			err:  `agent of "gpu-3" is not healthy (incompatible): health answer is not a health body: invalid character 'w'`,
			hint: "something other than this rbee's agent answers at http://10.0.0.9:7835; install the agent again with `queen setup install --node gpu-3`"},
		{node: "gpu-4", line: "  Health:            ❌ drift: running 0123456789ab, installed 3f2a9c1d4e5b\n",
			err:  `agent of "gpu-4" is not healthy (drift): running 0123456789ab, installed 3f2a9c1d4e5b`,
			hint: "the running agent is not the one install put there; install again with `queen setup install --node gpu-4`"},
	}
	for _, tt := range tests {
		t.Run("unhealthy "+tt.node+" fails", func(t *testing.T) {
			res := runQueen(t, q.args("hive", "status", "--node", tt.node)...)
			if res.err == nil || res.err.Error() != tt.err || !errors.Is(res.err, errAgentUnhealthy) {
				t.Fatalf("err = %v, want %q (exit 1)", res.err, tt.err)
			}
			if h := hintOf(res.err); h != tt.hint {
				t.Errorf("hint = %q, want %q", h, tt.hint)
			}
			if !strings.Contains(res.stdout, tt.line) {
				t.Errorf("stdout does not contain %q:\n%s", tt.line, res.stdout)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		for _, name := range []string{"gpu-1", "gpu-4"} {
			res := runQueen(t, q.args("--json", "hive", "status", "--node", name)...)
			if (res.err == nil) != statuses[name].Healthy {
				t.Errorf("%s --json: err = %v, want an error only when not healthy", name, res.err)
			}
			if want := mustIndent(t, statuses[name]); res.stdout != want {
				t.Errorf("stdout\n%s\nwant\n%s", res.stdout, want)
			}
			var got api.HiveStatus
			if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || got != statuses[name] {
				t.Errorf("decoded %+v (%v), want %+v", got, err, statuses[name])
			}
		}
	})
}

func TestHiveCommandsOfUnknownNode(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: `hive not found: "gpu-9"`})
	})
	for _, command := range []string{"start", "stop", "status"} {
		t.Run(command, func(t *testing.T) {
			res := runQueen(t, q.args("hive", command, "--node", "gpu-9")...)
			if res.err == nil || res.err.Error() != `node "gpu-9" not found` || !errors.Is(res.err, errNodeNotFound) {
				t.Fatalf("err = %v, want node \"gpu-9\" not found", res.err)
			}
			if h := hintOf(res.err); h != "list the registered nodes with `queen setup list-nodes`" {
				t.Errorf("hint = %q", h)
			}
		})
	}
}

func TestHiveCommandsCheckTheName(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {})
	for _, command := range []string{"start", "stop", "status"} {
		res := runQueen(t, q.args("hive", command, "--node", "../etc")...)
		if res.err == nil || !strings.HasPrefix(res.err.Error(), "check --node: invalid") {
			t.Errorf("hive %s: err = %v, want check --node: invalid…", command, res.err)
		}
	}
	if q.count() != 0 {
		t.Errorf("%d requests reached the queen, want 0", q.count())
	}
}
