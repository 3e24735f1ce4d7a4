package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

const tinyLlama = "hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"

func TestWorkersList(t *testing.T) {
	started := time.Now().Add(-90 * time.Second).Unix()
	two := api.WorkerList{Workers: []api.Worker{
		{ID: "w-9b21", Node: "gpu-1", ModelRef: tinyLlama, Backend: "cuda", Device: 1, State: api.WorkerBusy,
			SlotsTotal: 4, URL: "http://10.0.0.7:8082", StartedUnix: started},
		{ID: "w-7f3a", Node: "gpu-1", ModelRef: tinyLlama, Backend: "cpu", State: api.WorkerIdle,
			SlotsTotal: 1, SlotsAvailable: 1, URL: "http://10.0.0.7:8081", StartedUnix: started},
	}}
	table := "" +
		"ID      NODE   MODEL                                      BACKEND:DEVICE  STATE  SLOTS  URL                   AGE\n" +
		"w-9b21  gpu-1  hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF  cuda:1          busy   0/4    http://10.0.0.7:8082  1m\n" +
		"w-7f3a  gpu-1  hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF  cpu:0           idle   1/1    http://10.0.0.7:8081  1m\n"
	tests := []struct {
		name      string
		flags     []string
		list      api.WorkerList
		wantQuery url.Values
		want      string
	}{
		{name: "two", list: two, wantQuery: url.Values{}, want: table},
		{
			name:      "every filter",
			flags:     []string{"--node", "gpu-1", "--model", tinyLlama, "--capability", "cuda:1", "--state", "busy"},
			list:      api.WorkerList{Workers: two.Workers[:1]},
			wantQuery: url.Values{"node": {"gpu-1"}, "model": {tinyLlama}, "capability": {"cuda:1"}, "state": {"busy"}},
			want:      strings.Join(strings.SplitAfter(table, "\n")[:2], ""),
		},
		{
			name:      "cpu:0 as the table shows it is the capability cpu",
			flags:     []string{"--capability", "cpu:0"},
			wantQuery: url.Values{"capability": {"cpu"}},
			want:      "No workers match the filters. List them all with: queen workers list\n",
		},
		{name: "none", wantQuery: url.Values{}, want: "No workers. Spawn one with: queen workers spawn --node NODE --model MODEL\n"},
		{name: "none, json", flags: []string{"--json"}, wantQuery: url.Values{}, want: "{\n  \"workers\": []\n}\n"},
		{name: "two, json", flags: []string{"--json"}, list: two, wantQuery: url.Values{}, want: mustIndent(t, two)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var query url.Values
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				query = r.URL.Query()
				answerJSON(w, http.StatusOK, tt.list)
			})
			res := runQueen(t, q.args(append([]string{"workers", "list"}, tt.flags...)...)...)
			if res.err != nil {
				t.Fatalf("workers list: %v", res.err)
			}
			if req := q.last(t); req.method != http.MethodGet || req.path != "/v1/workers/list" || req.auth != "Bearer "+testToken {
				t.Errorf("request = %s %s (%q), want GET /v1/workers/list with the token", req.method, req.path, req.auth)
			}
			if fmt.Sprint(query) != fmt.Sprint(tt.wantQuery) {
				t.Errorf("query = %v, want %v", query, tt.wantQuery)
			}
			if res.stdout != tt.want {
				t.Errorf("stdout\n%s\nwant\n%s", res.stdout, tt.want)
			}
		})
	}
}

func TestWorkersFlagsAreCheckedBeforeAnyRequest(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantErr  string
		wantHint string
	}{
		{
			name: "list, bad capability", args: []string{"workers", "list", "--capability", "gpu0"},
			wantErr:  `check --capability: invalid capability "gpu0": must be cpu or <backend>:<device>, e.g. cuda:0`,
			wantHint: "fix --capability and run the command again",
		},
		{
			name: "list, unknown state", args: []string{"workers", "list", "--state", "sleeping"},
			wantErr:  `check --state: invalid state "sleeping": must be one of loading, idle, busy, unhealthy, stopping, failed`,
			wantHint: "fix --state and run the command again",
		},
		{
			name: "list, node name with a slash", args: []string{"workers", "list", "--node", "gpu/1"},
			wantErr: `check --node: invalid node "gpu/1"`, wantHint: "fix --node and run the command again",
		},
		{
			name: "list, model with a space", args: []string{"workers", "list", "--model", "hf:a b"},
			wantErr: `check --model: invalid model "hf:a b"`, wantHint: "fix --model and run the command again",
		},
		{
			name: "spawn, zero ready timeout", args: []string{"workers", "spawn", "--node", "gpu-1", "--model", tinyLlama, "--ready-timeout", "0s"},
			wantErr:  `check --ready-timeout: invalid value "0s": must be above 0`,
			wantHint: "pass a duration like --ready-timeout 10m, or leave it out for 5m",
		},
		{
			name: "spawn, negative ready timeout", args: []string{"workers", "spawn", "--node", "gpu-1", "--model", tinyLlama, "--ready-timeout=-1m"},
			wantErr:  `check --ready-timeout: invalid value "-1m0s": must be above 0`,
			wantHint: "pass a duration like --ready-timeout 10m, or leave it out for 5m",
		},
		{
			name: "spawn, device out of range", args: []string{"workers", "spawn", "--node", "gpu-1", "--model", tinyLlama, "--device", "256"},
			wantErr: `check --device: invalid device "256": must be 0–255`, wantHint: "fix --device and run the command again",
		},
		{
			name: "spawn, upper-case backend", args: []string{"workers", "spawn", "--node", "gpu-1", "--model", tinyLlama, "--backend", "CUDA"},
			wantErr: `check --backend: invalid backend "CUDA"`, wantHint: "fix --backend and run the command again",
		},
		{
			name: "spawn, model with a space", args: []string{"workers", "spawn", "--node", "gpu-1", "--model", "/models/my model.gguf"},
			wantErr: `check --model: invalid model_ref "/models/my model.gguf"`, wantHint: "fix --model and run the command again",
		},
		{
			name: "spawn, node name that climbs out of the path", args: []string{"workers", "spawn", "--node", "../etc", "--model", tinyLlama},
			wantErr: `check --node: invalid node "../etc"`, wantHint: "fix --node and run the command again",
		},
		{
			name: "stop, id with a slash", args: []string{"workers", "stop", "--id", "w-1/../x"},
			wantErr: `check --id: invalid worker_id "w-1/../x"`, wantHint: "list the workers with `queen workers list`",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {})
			res := runQueen(t, q.args(tt.args...)...)
			if res.err == nil || !strings.HasPrefix(res.err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %s…", res.err, tt.wantErr)
			}
			if h := hintOf(res.err); h != tt.wantHint {
				t.Errorf("hint = %q, want %q", h, tt.wantHint)
			}
			if !errors.Is(res.err, api.ErrInvalid) && !strings.Contains(tt.wantErr, "ready-timeout") {
				t.Errorf("err does not wrap api.ErrInvalid: %v", res.err)
			}
			if q.count() != 0 || res.stdout != "" {
				t.Errorf("%d requests reached the queen, stdout %q; want none", q.count(), res.stdout)
			}
		})
	}
}

func TestWorkersCommandsParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "spawn without --model", args: []string{"workers", "spawn", "--node", "gpu-1"}, wantErr: "missing flags: --model=REF"},
		{name: "spawn without --node", args: []string{"workers", "spawn", "--model", tinyLlama}, wantErr: "missing flags: --node=NAME"},
		{name: "spawn with a device that is not a number", args: []string{"workers", "spawn", "--node", "gpu-1", "--model", tinyLlama, "--device", "cuda:1"}, wantErr: "--device"},
		{name: "spawn with a timeout without unit", args: []string{"workers", "spawn", "--node", "gpu-1", "--model", tinyLlama, "--ready-timeout", "300"}, wantErr: "--ready-timeout"},
		{name: "stop without --id", args: []string{"workers", "stop"}, wantErr: "missing flags: --id=ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runQueen(t, tt.args...)
			if res.err == nil || !strings.Contains(res.err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to contain %q", res.err, tt.wantErr)
			}
		})
	}
}

func TestWorkersSpawn(t *testing.T) {
	ready := api.Worker{ID: "w-4e1c", Node: "gpu-1", ModelRef: tinyLlama, Backend: "cuda", Device: 1, State: api.WorkerIdle,
		URL: "http://10.0.0.7:8083", SlotsTotal: 1, SlotsAvailable: 1, PID: 31337, StartedUnix: 1760000000}
	tests := []struct {
		name       string
		flags      []string
		json       bool
		wantBody   string
		wantStdout string // a regexp
	}{
		{
			name:     "defaults",
			wantBody: `{"node":"gpu-1","model_ref":"hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF","backend":"cpu","ready_timeout_ms":300000}`,
			wantStdout: `^\[queen\] spawning hf:TheBloke/TinyLlama-1\.1B-Chat-v1\.0-GGUF on gpu-1 \(backend cpu\) …\n` +
				`\[queen\] ✅ worker w-4e1c ready at http://10\.0\.0\.7:8083 \(\d+ms\)\n$`,
		},
		{
			name:     "cuda:1 with a longer timeout",
			flags:    []string{"--backend", "cuda", "--device", "1", "--ready-timeout", "10m"},
			wantBody: `{"node":"gpu-1","model_ref":"hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF","backend":"cuda","device":1,"ready_timeout_ms":600000}`,
			wantStdout: `^\[queen\] spawning hf:TheBloke/TinyLlama-1\.1B-Chat-v1\.0-GGUF on gpu-1 \(backend cuda, device 1\) …\n` +
				`\[queen\] ✅ worker w-4e1c ready at http://10\.0\.0\.7:8083 \(\d+ms\)\n$`,
		},
		{
			name:       "device 0 is sent, a sub-millisecond timeout is 1ms",
			flags:      []string{"--device", "0", "--ready-timeout", "1us"},
			wantBody:   `{"node":"gpu-1","model_ref":"hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF","backend":"cpu","device":0,"ready_timeout_ms":1}`,
			wantStdout: `\(backend cpu, device 0\) …\n`,
		},
		{
			name:       "json prints only the worker",
			json:       true,
			wantBody:   `{"node":"gpu-1","model_ref":"hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF","backend":"cpu","ready_timeout_ms":300000}`,
			wantStdout: "^" + regexp.QuoteMeta(mustIndent(t, ready)) + "$",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				answerJSON(w, http.StatusCreated, ready)
			})
			args := append([]string{"workers", "spawn", "--node", "gpu-1", "--model", tinyLlama}, tt.flags...)
			if tt.json {
				args = append([]string{"--json"}, args...)
			}
			res := runQueen(t, q.args(args...)...)
			if res.err != nil {
				t.Fatalf("workers spawn: %v", res.err)
			}
			req := q.last(t)
			if req.method != http.MethodPost || req.path != "/v1/workers/spawn" || req.auth != "Bearer "+testToken {
				t.Errorf("request = %s %s (%q), want POST /v1/workers/spawn with the token", req.method, req.path, req.auth)
			}
			if got := strings.TrimSpace(string(req.body)); got != tt.wantBody {
				t.Errorf("body = %s, want %s", got, tt.wantBody)
			}
			if !regexp.MustCompile(tt.wantStdout).MatchString(res.stdout) {
				t.Errorf("stdout = %q, want it to match %q", res.stdout, tt.wantStdout)
			}
		})
	}
}

func TestWorkersSpawnErrorsShowTheQueensHint(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		detail   api.ErrorDetail
		args     []string
		wantErr  string
		wantHint string
	}{
		{
			name: "device missing", status: http.StatusUnprocessableEntity, args: []string{"--backend", "cuda", "--device", "5"},
			detail: api.ErrorDetail{Code: api.CodeDeviceUnavailable, Message: "device 5 not available on gpu-1; available: [0, 1]",
				Hint: "try --device 0 or --device 1"},
		},
		{
			name: "backend missing", status: http.StatusUnprocessableEntity, args: []string{"--backend", "rocm"},
			detail: api.ErrorDetail{Code: api.CodeBackendUnavailable, Message: "backend rocm not available on gpu-1; available: [cpu, cuda]",
				Hint: "try --backend cpu or --backend cuda"},
		},
		{
			name: "agent offline", status: http.StatusConflict,
			detail: api.ErrorDetail{Code: api.CodeHiveNotOnline, Message: "hive gpu-1 is not online: no heartbeat for 2m10s",
				Hint: "start its agent with `queen hive start --node gpu-1`"},
		},
		{
			name: "worker exits while loading", status: http.StatusBadGateway,
			detail: api.ErrorDetail{Code: api.CodeWorkerFailed, Message: "worker exited with code 1 before it was ready: error: unknown model architecture",
				Hint: "check the model reference"},
		},
		{
			name: "agent does not answer", status: http.StatusBadGateway,
			detail: api.ErrorDetail{Code: api.CodeAgentUnreachable, Message: "agent of gpu-1 at http://10.0.0.7:7835: connection refused",
				Hint: "check the agent with `queen hive status --node gpu-1`"},
		},
		{
			name: "not ready in time", status: http.StatusGatewayTimeout, args: []string{"--ready-timeout", "1s"},
			detail: api.ErrorDetail{Code: api.CodeLoadingTimeout, Message: "worker not ready within 1s; it was killed", Hint: "pass a longer --ready-timeout"},
		},
		{
			name: "port range full", status: http.StatusServiceUnavailable,
			detail: api.ErrorDetail{Code: api.CodeNoFreePort, Message: "every port of 8081–8999 on gpu-1 is taken",
				Hint: "stop a worker with `queen workers stop --id ID`"},
		},
		{
			name: "unknown node", status: http.StatusNotFound,
			detail:  api.ErrorDetail{Code: api.CodeNotFound, Message: `hive not found: "gpu-1"`},
			wantErr: `node "gpu-1" not found`, wantHint: "list the registered nodes with `queen setup list-nodes`",
		},
		{
			name: "a 404 that is not the queen's is not an unknown node", status: http.StatusNotFound,
			wantErr: "queen answered HTTP 404 Not Found", wantHint: "the answer is not a queen's error; check that --queen-url points at a queen daemon",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.detail.Code == "" {
					http.NotFound(w, r)
					return
				}
				answerError(w, tt.status, tt.detail)
			})
			res := runQueen(t, q.args(append([]string{"workers", "spawn", "--node", "gpu-1", "--model", tinyLlama}, tt.args...)...)...)
			wantErr, wantHint := cmp.Or(tt.wantErr, tt.detail.Message), cmp.Or(tt.wantHint, tt.detail.Hint)
			if res.err == nil || res.err.Error() != wantErr {
				t.Fatalf("err = %v, want %s", res.err, wantErr)
			}
			if h := hintOf(res.err); h != wantHint {
				t.Errorf("hint = %q, want %q", h, wantHint)
			}
			if tt.detail.Code != "" && client.Code(res.err) != tt.detail.Code {
				t.Errorf("code = %q, want %q", client.Code(res.err), tt.detail.Code)
			}
			if !strings.HasPrefix(res.stdout, "[queen] spawning "+tinyLlama+" on gpu-1 (backend ") || strings.Count(res.stdout, "\n") != 1 {
				t.Errorf("stdout = %q, want only the progress line", res.stdout)
			}
		})
	}
}

func TestWorkersSpawnWithARejectedToken(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {})
	res := runQueen(t, q.args("--token", "stale", "workers", "spawn", "--node", "gpu-1", "--model", tinyLlama)...)
	want := fmt.Sprintf("queen at %s rejected the admin token from --token flag", q.url)
	if res.err == nil || res.err.Error() != want {
		t.Fatalf("err = %v, want %s", res.err, want)
	}
}

func TestWorkersSpawnCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var once sync.Once
	gone := make(chan bool, 1)
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		cancel() // Ctrl-C while the queen waits for the worker
		select {
		case <-r.Context().Done():
			once.Do(func() { gone <- true })
		case <-time.After(10 * time.Second):
			once.Do(func() { gone <- false })
		}
	})
	stdout := &cancellingBuffer{cancel: func() {}}
	res := runQueenContext(t, ctx, stdout, q.args("workers", "spawn", "--node", "gpu-1", "--model", tinyLlama)...)
	if res.err == nil || res.err.Error() != "spawn cancelled" || !errors.Is(res.err, context.Canceled) {
		t.Fatalf("err = %v, want spawn cancelled", res.err)
	}
	if h := hintOf(res.err); h != "see whether a worker was started with `queen workers list --node gpu-1`" {
		t.Errorf("hint = %q", h)
	}
	if want := "[queen] spawning " + tinyLlama + " on gpu-1 (backend cpu) …\n[queen] spawn cancelled\n"; res.stdout != want {
		t.Errorf("stdout = %q, want %q", res.stdout, want)
	}
	if !<-gone {
		t.Error("the queen's request did not end when the spawn was cancelled")
	}
}

func TestWorkersSpawnNotAnsweredInTime(t *testing.T) {
	// What the client returns when its spawn bound (ready timeout + 30s)
	// passes: the timeout error of http.Client, wrapped.
	timeout := fmt.Errorf("POST /v1/workers/spawn: %w", &url.Error{Op: "Post", URL: "http://127.0.0.1:7833/v1/workers/spawn",
		Err: context.DeadlineExceeded})
	s := &session{g: &Globals{}, stdout: new(strings.Builder)}
	err := spawnFailed(t.Context(), s, api.SpawnWorkerRequest{Node: "gpu-1", ReadyTimeoutMS: 60000}, timeout)
	if err.Error() != "no answer from the queen within 1m30s" || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	if h := hintOf(err); h != "the queen or the agent may be stuck; see whether a worker was started with `queen workers list --node gpu-1`" {
		t.Errorf("hint = %q", h)
	}
}

func TestWorkersStop(t *testing.T) {
	stopping := api.Worker{ID: "w-9b21", Node: "gpu-1", ModelRef: tinyLlama, Backend: "cuda", Device: 1, State: api.WorkerStopping,
		URL: "http://10.0.0.7:8082", SlotsTotal: 4, StartedUnix: 1760000000}
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/workers/w-9b21/stop" {
			answerJSON(w, http.StatusOK, stopping)
			return
		}
		answerError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: `worker not found: "w-9"`})
	})
	t.Run("human", func(t *testing.T) {
		res := runQueen(t, q.args("workers", "stop", "--id", "w-9b21")...)
		if res.err != nil {
			t.Fatalf("workers stop: %v", res.err)
		}
		if req := q.last(t); req.method != http.MethodPost || req.path != "/v1/workers/w-9b21/stop" || len(req.body) != 0 {
			t.Errorf("request = %s %s %q, want POST /v1/workers/w-9b21/stop without a body", req.method, req.path, req.body)
		}
		if want := "[queen] ✅ worker w-9b21 stopped (" + tinyLlama + " on gpu-1)\n"; res.stdout != want {
			t.Errorf("stdout = %q, want %q", res.stdout, want)
		}
	})
	t.Run("json", func(t *testing.T) {
		res := runQueen(t, q.args("--json", "workers", "stop", "--id", "w-9b21")...)
		if res.err != nil {
			t.Fatalf("workers stop --json: %v", res.err)
		}
		var got api.Worker
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || res.stdout != mustIndent(t, stopping) {
			t.Errorf("stdout = %q (%v), want the worker as JSON", res.stdout, err)
		}
	})
	t.Run("unknown worker", func(t *testing.T) {
		res := runQueen(t, q.args("workers", "stop", "--id", "w-9")...)
		if res.err == nil || res.err.Error() != `worker "w-9" not found` || !errors.Is(res.err, errWorkerNotFound) || !client.IsNotFound(res.err) {
			t.Fatalf("err = %v, want worker \"w-9\" not found", res.err)
		}
		if h := hintOf(res.err); h != "list the workers with `queen workers list`" {
			t.Errorf("hint = %q", h)
		}
	})
}
