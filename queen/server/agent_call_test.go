package server_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// TestAgentBadResponse: an agent the queen reaches that answers a spawn or
// a stop with something the API does not allow (not JSON, the wrong shape,
// an error without an error body) is 502 AGENT_BAD_RESPONSE saying the
// answer was invalid, with the restart as the next step, not
// AGENT_UNREACHABLE pointing at `hive status`. The stub agent on loopback
// answers the garbage itself. A stop that fails so keeps the entry.
func TestAgentBadResponse(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})
	tests := []struct {
		name     string
		call     string // "spawn" or "stop"
		status   int    // what the stub answers
		body     string
		wantText string // in the message
		wantHint string
	}{
		{"spawn: not JSON", "spawn", http.StatusCreated, "spawned, boss", "invalid response from the agent of", "queen hive stop --node"},
		{"spawn: HTML", "spawn", http.StatusOK, "<html><body>It works!</body></html>", "invalid response from the agent of", "queen hive start --node"},
		{"spawn: a JSON array", "spawn", http.StatusCreated, "[1, 2, 3]", "invalid response from the agent of", "queen hive stop --node"},
		{"spawn: a number id", "spawn", http.StatusCreated, `{"worker_id": 5}`, "invalid response from the agent of", "queen hive stop --node"},
		{"spawn: an empty worker", "spawn", http.StatusCreated, `{}`, "bad worker record", "queen setup install --node"},
		{"spawn: 500 without an error body", "spawn", http.StatusInternalServerError, "boom", "without an error body", "queen hive stop --node"},
		{"stop: not JSON", "stop", http.StatusOK, "stopped!", "invalid response from the agent of", "queen hive stop --node"},
		{"stop: another worker", "stop", http.StatusOK, `{"worker_id": "w-other"}`, `answered worker "w-other"`, "queen hive stop --node"},
		{"stop: 502 without an error body", "stop", http.StatusBadGateway, "Bad Gateway", "without an error body", "queen hive start --node"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := fmt.Sprintf("gpu-bad-%d", i)
			h := addHive(t, reg, node, api.StatusOnline)
			stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(stub.Close)
			setAgentURL(t, reg, node, stub.URL)
			r := callOnce(t, q, h, tt.call)
			d := wantError(t, r, http.StatusBadGateway, api.CodeAgentBadResponse)
			if !strings.Contains(d.Message, tt.wantText) || !strings.Contains(d.Message, node) ||
				!strings.Contains(d.Hint, tt.wantHint+" "+node) || strings.Contains(d.Hint, "hive status") {
				t.Errorf("error %+v, want a message with %q naming %s and a hint with `%s %s`", d, tt.wantText, node, tt.wantHint, node)
			}
			if tt.call == "stop" && len(q.list(t, "node="+node)) != 1 {
				t.Errorf("a stop the agent answered with garbage removed the entry")
			}
		})
	}
}

// callOnce registers a worker of h and stops it when call is "stop", else
// spawns one on h, and returns the queen's answer.
func callOnce(t *testing.T, q *routeQueen, h hiveCreds, call string) routeReply {
	t.Helper()
	if call == "spawn" {
		return q.must(t, "POST", "/v1/workers/spawn", bearerAuth(token), api.SpawnWorkerRequest{Node: h.name, ModelRef: modelTiny})
	}
	wk := routeWorker("w-"+h.name, api.BackendCPU, 0, modelTiny, api.WorkerIdle)
	if r := q.must(t, "POST", "/v1/workers/register", bearerAuth(h.token), wk); r.status != http.StatusCreated {
		t.Fatalf("register %s: %s", wk.ID, r)
	}
	return q.must(t, "POST", "/v1/workers/"+wk.ID+"/stop", bearerAuth(token), nil)
}

// TestAgentCallRetriesDialsOnly: a call to an agent whose port refuses
// connections is dialled again (3 attempts, 200 ms then 400 ms apart), so
// an agent that starts listening after ~300 ms gets the spawn and the stop,
// each once; a port that never listens is 502 AGENT_UNREACHABLE after 3
// attempts. A request the agent received and then dropped (connection
// closed without an answer) is not sent again: the agent counts one, and
// the queen says it may have acted on it.
func TestAgentCallRetriesDialsOnly(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})

	for _, call := range []string{"spawn", "stop"} {
		t.Run("an agent listening after 300 ms gets the "+call, func(t *testing.T) {
			h := addHive(t, reg, "gpu-late-"+call, api.StatusOnline)
			a := newFakeAgent(h.name, h.agentToken)
			a.workers["w-"+h.name] = routeWorker("w-"+h.name, api.BackendCPU, 0, modelTiny, api.WorkerIdle)
			setAgentURL(t, reg, h.name, "http://"+listenLate(t, 300*time.Millisecond, a.handler()))
			r := callOnce(t, q, h, call)
			if r.status/100 != 2 {
				t.Fatalf("%s through an agent that listens late: %s", call, r)
			}
			if n := len(a.spawnBodies()) + len(a.stoppedIDs()); n != 1 {
				t.Errorf("the agent got %d spawns and stops, want 1", n)
			}
		})
	}

	t.Run("a port that never listens is unreachable after 3 attempts", func(t *testing.T) {
		h := addHive(t, reg, "gpu-never", api.StatusOnline)
		setAgentURL(t, reg, h.name, fmt.Sprintf("http://127.0.0.1:%d", closedPort(t)))
		start := time.Now()
		r := callOnce(t, q, h, "spawn")
		d := wantError(t, r, http.StatusBadGateway, api.CodeAgentUnreachable)
		if took := time.Since(start); !strings.Contains(d.Message, "3 attempt(s)") || took < 500*time.Millisecond {
			t.Errorf("after %v: %+v, want 3 attempts over about 600 ms", took, d)
		}
	})

	for _, call := range []string{"spawn", "stop"} {
		t.Run("a dropped "+call+" is sent once", func(t *testing.T) {
			h := addHive(t, reg, "gpu-drop-"+call, api.StatusOnline)
			var got atomic.Int64
			stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				got.Add(1)
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close() // received, then dropped without an answer
				}
			}))
			t.Cleanup(stub.Close)
			setAgentURL(t, reg, h.name, stub.URL)
			r := callOnce(t, q, h, call)
			d := wantError(t, r, http.StatusBadGateway, api.CodeAgentUnreachable)
			if n := got.Load(); n != 1 {
				t.Errorf("the agent got the %s %d times, want once", call, n)
			}
			if !strings.Contains(d.Message, "got no answer") || !strings.Contains(d.Hint, "queen workers list --node "+h.name) {
				t.Errorf("error %+v, want no answer and the list to check", d)
			}
		})
	}
}

// listenLate reserves a loopback port, serves h on it after delay and
// returns its address.
func listenLate(t *testing.T, delay time.Duration, h http.Handler) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	timer := time.AfterFunc(delay, func() {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen late on %s: %v", addr, err)
			return
		}
		_ = srv.Serve(ln)
	})
	t.Cleanup(func() {
		timer.Stop()
		_ = srv.Close()
	})
	return addr
}
