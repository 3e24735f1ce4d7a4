package client_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

const tinyLlama = "hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"

func TestListWorkersSendsTheFilter(t *testing.T) {
	tests := []struct {
		name      string
		filter    api.WorkerFilter
		wantQuery url.Values
		wantIDs   []string
	}{
		{name: "no filter", wantQuery: url.Values{"limit": {"5000"}}, wantIDs: []string{"w-cpu", "w-cuda1", "w-other"}},
		{
			name:   "every field",
			filter: api.WorkerFilter{Node: "gpu-1", Model: tinyLlama, Capability: "cuda:1", State: api.WorkerBusy},
			wantQuery: url.Values{"node": {"gpu-1"}, "model": {tinyLlama}, "capability": {"cuda:1"},
				"state": {api.WorkerBusy}, "limit": {"5000"}},
			wantIDs: []string{"w-cuda1"},
		},
		{
			name:      "a path model with characters a query must escape",
			filter:    api.WorkerFilter{Model: "/models/q&a=1+2#v?.gguf"},
			wantQuery: url.Values{"model": {"/models/q&a=1+2#v?.gguf"}, "limit": {"5000"}},
			wantIDs:   []string{"w-other"},
		},
		{name: "no match", filter: api.WorkerFilter{State: api.WorkerFailed}, wantQuery: url.Values{"state": {"failed"}, "limit": {"5000"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newWorkerQueen(t)
			l, err := client.New(q.url, testToken).ListWorkers(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("ListWorkers: %v", err)
			}
			req := q.only(t)
			if req.method != http.MethodGet || req.path != "/v1/workers/list" {
				t.Errorf("request = %s %s, want GET /v1/workers/list", req.method, req.path)
			}
			if got, _ := url.ParseQuery(req.rawQuery); !reflect.DeepEqual(got, tt.wantQuery) {
				t.Errorf("query = %q, want %v", req.rawQuery, tt.wantQuery)
			}
			req.checkHeaders(t, false)
			if len(req.body) != 0 {
				t.Errorf("body = %q, want none", req.body)
			}
			var ids []string
			for _, w := range l.Workers {
				ids = append(ids, w.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("workers = %q, want %q", ids, tt.wantIDs)
			}
		})
	}
}

func TestSpawnWorkerSendsTheRequest(t *testing.T) {
	one, zero := 1, 0
	tests := []struct {
		name     string
		req      api.SpawnWorkerRequest
		wantBody string
	}{
		{
			name:     "agent picks the device, queen's ready timeout",
			req:      api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: tinyLlama},
			wantBody: `{"node":"gpu-1","model_ref":"hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"}`,
		},
		{
			name:     "device 0 is sent",
			req:      api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: tinyLlama, Backend: api.BackendCPU, Device: &zero, ReadyTimeoutMS: 600000},
			wantBody: `{"node":"gpu-1","model_ref":"hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF","backend":"cpu","device":0,"ready_timeout_ms":600000}`,
		},
		{
			name:     "cuda:1",
			req:      api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: "/models/tiny.gguf", Backend: api.BackendCUDA, Device: &one},
			wantBody: `{"node":"gpu-1","model_ref":"/models/tiny.gguf","backend":"cuda","device":1}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newWorkerQueen(t)
			w, err := client.New(q.url, testToken).SpawnWorker(t.Context(), tt.req)
			if err != nil {
				t.Fatalf("SpawnWorker: %v", err)
			}
			req := q.only(t)
			if req.method != http.MethodPost || req.path != "/v1/workers/spawn" || req.rawQuery != "" {
				t.Errorf("request = %s %s?%s, want POST /v1/workers/spawn", req.method, req.path, req.rawQuery)
			}
			req.checkHeaders(t, true)
			if string(req.body) != tt.wantBody {
				t.Errorf("body = %s, want %s", req.body, tt.wantBody)
			}
			if w.State != api.WorkerIdle || w.Node != "gpu-1" || w.ModelRef != tt.req.ModelRef || w.URL == "" {
				t.Errorf("worker = %+v, want an idle worker of gpu-1 with a URL", w)
			}
		})
	}
}

func TestStopWorkerSendsTheID(t *testing.T) {
	tests := []struct {
		name, id, wantPath string
	}{
		{name: "plain id", id: "w-cuda1", wantPath: "/v1/workers/w-cuda1/stop"},
		{name: "id that needs escaping", id: "w 1?x/y", wantPath: "/v1/workers/w%201%3Fx%2Fy/stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newWorkerQueen(t)
			q.workers = append(q.workers, api.Worker{ID: "w 1?x/y", Node: "gpu-1", State: api.WorkerIdle})
			w, err := client.New(q.url, testToken).StopWorker(t.Context(), tt.id)
			if err != nil {
				t.Fatalf("StopWorker: %v", err)
			}
			req := q.only(t)
			if req.method != http.MethodPost || req.escapedPath != tt.wantPath || req.id != tt.id {
				t.Errorf("request = %s %s (id %q), want POST %s (id %q)", req.method, req.escapedPath, req.id, tt.wantPath, tt.id)
			}
			req.checkHeaders(t, false)
			if len(req.body) != 0 {
				t.Errorf("body = %q, want none", req.body)
			}
			if w.ID != tt.id || w.State != api.WorkerStopping {
				t.Errorf("worker = %+v, want %s in state stopping", w, tt.id)
			}
		})
	}
}

func TestWorkerRouteErrorsAreAPIErrors(t *testing.T) {
	dev5 := 5
	tests := []struct {
		name       string
		call       string // "list", "spawn" or "stop"
		filter     api.WorkerFilter
		spawn      api.SpawnWorkerRequest
		stopID     string
		wantStatus int
		wantCode   string
		wantMsg    string
		wantHint   string
		wantNotFnd bool
	}{
		{
			name: "bad filter", call: "list", filter: api.WorkerFilter{Capability: "gpu0"},
			wantStatus: 400, wantCode: api.CodeInvalidField,
			wantMsg:  `invalid capability "gpu0": must be cpu or <backend>:<device>, e.g. cuda:0`,
			wantHint: "fix the query parameter named above",
		},
		{
			name: "unknown node", call: "spawn", spawn: api.SpawnWorkerRequest{Node: "gpu-9", ModelRef: tinyLlama},
			wantStatus: 404, wantCode: api.CodeNotFound, wantMsg: `hive not found: "gpu-9"`,
			wantHint: "list the registered nodes with `queen setup list-nodes`", wantNotFnd: true,
		},
		{
			name: "agent offline", call: "spawn", spawn: api.SpawnWorkerRequest{Node: "gpu-2", ModelRef: tinyLlama},
			wantStatus: 409, wantCode: api.CodeHiveNotOnline, wantMsg: "hive gpu-2 is not online: no heartbeat for 2m10s",
			wantHint: "start its agent with `queen hive start --node gpu-2`",
		},
		{
			name: "backend missing", call: "spawn", spawn: api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: tinyLlama, Backend: "rocm"},
			wantStatus: 422, wantCode: api.CodeBackendUnavailable, wantMsg: "backend rocm not available on gpu-1; available: [cpu, cuda]",
			wantHint: "try --backend cpu or --backend cuda",
		},
		{
			name: "device missing", call: "spawn", spawn: api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: tinyLlama, Backend: "cuda", Device: &dev5},
			wantStatus: 422, wantCode: api.CodeDeviceUnavailable, wantMsg: "device 5 not available on gpu-1; available: [0, 1]",
			wantHint: "try --device 0 or --device 1",
		},
		{
			name: "worker exits while loading", call: "spawn", spawn: api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: "hf:acme/crash"},
			wantStatus: 502, wantCode: api.CodeWorkerFailed, wantMsg: "worker exited with code 1 before it was ready: error: unknown model architecture",
			wantHint: "check the model reference; the worker's log is in ~/rbee/logs on gpu-1",
		},
		{
			name: "agent does not answer", call: "spawn", spawn: api.SpawnWorkerRequest{Node: "gpu-3", ModelRef: tinyLlama},
			wantStatus: 502, wantCode: api.CodeAgentUnreachable, wantMsg: "agent of gpu-3 at http://10.0.0.9:7835: connection refused",
			wantHint: "check the agent with `queen hive status --node gpu-3`",
		},
		{
			name: "not ready in time", call: "spawn", spawn: api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: "hf:acme/slow", ReadyTimeoutMS: 1000},
			wantStatus: 504, wantCode: api.CodeLoadingTimeout, wantMsg: "worker not ready within 1s; it was killed",
			wantHint: "pass a longer --ready-timeout",
		},
		{
			name: "port range full", call: "spawn", spawn: api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: "hf:acme/ports"},
			wantStatus: 503, wantCode: api.CodeNoFreePort, wantMsg: "every port of 8081–8999 on gpu-1 is taken",
			wantHint: "stop a worker with `queen workers stop --id ID`",
		},
		{
			name: "unknown worker", call: "stop", stopID: "w-9",
			wantStatus: 404, wantCode: api.CodeNotFound, wantMsg: `worker not found: "w-9"`,
			wantHint: "list the workers with `queen workers list`", wantNotFnd: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client.New(newWorkerQueen(t).url, testToken)
			var err error
			switch tt.call {
			case "list":
				_, err = c.ListWorkers(t.Context(), tt.filter)
			case "spawn":
				_, err = c.SpawnWorker(t.Context(), tt.spawn)
			case "stop":
				_, err = c.StopWorker(t.Context(), tt.stopID)
			}
			e, ok := errors.AsType[*client.APIError](err)
			if !ok {
				t.Fatalf("err = %v (%T), want *client.APIError", err, err)
			}
			if e.Status != tt.wantStatus || client.Code(err) != tt.wantCode || e.Error() != tt.wantMsg || e.Hint() != tt.wantHint {
				t.Errorf("error = %d %s %q hint %q\nwant    %d %s %q hint %q",
					e.Status, e.Detail.Code, e.Error(), e.Hint(), tt.wantStatus, tt.wantCode, tt.wantMsg, tt.wantHint)
			}
			if client.IsNotFound(err) != tt.wantNotFnd {
				t.Errorf("IsNotFound = %v, want %v", client.IsNotFound(err), tt.wantNotFnd)
			}
		})
	}
}

func TestWorkerRoutesNeedTheToken(t *testing.T) {
	q := newWorkerQueen(t)
	c := client.New(q.url, "wrong-token")
	_, errList := c.ListWorkers(t.Context(), api.WorkerFilter{})
	_, errSpawn := c.SpawnWorker(t.Context(), api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: tinyLlama})
	_, errStop := c.StopWorker(t.Context(), "w-cpu")
	for _, err := range []error{errList, errSpawn, errStop} {
		if !client.IsUnauthorized(err) {
			t.Errorf("err = %v, want unauthorized", err)
		}
	}
}

func TestSpawnWorkerOutlivesThePlainTimeoutButNotTheContext(t *testing.T) {
	q := newWorkerQueen(t)
	q.loadTime = 300 * time.Millisecond
	c := client.New(q.url, testToken, client.WithTimeout(50*time.Millisecond))
	if _, err := c.SpawnWorker(t.Context(), api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: tinyLlama}); err != nil {
		t.Fatalf("SpawnWorker longer than the plain timeout: %v", err)
	}
	q.loadTime = 0
	q.listDelay = 300 * time.Millisecond
	if _, err := c.ListWorkers(t.Context(), api.WorkerFilter{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ListWorkers longer than the plain timeout: err = %v, want a deadline error", err)
	}

	q.loadTime = time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.SpawnWorker(ctx, api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: tinyLlama})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("SpawnWorker after its context ended: err = %v after %s, want a deadline error soon", err, time.Since(start))
	}
}

func TestSpawnWait(t *testing.T) {
	tests := []struct {
		readyMS int64
		want    time.Duration
	}{
		{readyMS: 0, want: 5*time.Minute + 30*time.Second},
		{readyMS: -1, want: 5*time.Minute + 30*time.Second},
		{readyMS: 1, want: 30*time.Second + time.Millisecond},
		{readyMS: 20 * 60 * 1000, want: 20*time.Minute + 30*time.Second},
	}
	for _, tt := range tests {
		if got := client.SpawnWait(tt.readyMS); got != tt.want {
			t.Errorf("SpawnWait(%d) = %s, want %s", tt.readyMS, got, tt.want)
		}
	}
}

// workerQueen is a fake queen with only the three worker routes, answering
// as the queen's contract says for this fleet:
//
//   - gpu-1: online; backends cpu (device 0) and cuda (GPUs 0 and 1)
//   - gpu-2: registered, but its agent does not heartbeat
//   - gpu-3: online, but its agent does not answer
//
// and for these models on gpu-1: hf:acme/crash exits while loading,
// hf:acme/slow is not ready in time, hf:acme/ports finds no free port.
type workerQueen struct {
	url       string
	workers   []api.Worker  // listed and stoppable; set before the first request
	loadTime  time.Duration // how long a spawned worker takes to be ready
	listDelay time.Duration // how long the list takes

	mu       sync.Mutex
	requests []workerRequest
}

// workerRequest is one request the fake queen got.
type workerRequest struct {
	method, path, escapedPath, rawQuery string
	header                              http.Header
	body                                []byte
	id                                  string // the {id} of the stop route
}

// newWorkerQueen starts a fake worker queen with three workers.
func newWorkerQueen(t *testing.T) *workerQueen {
	t.Helper()
	q := &workerQueen{workers: []api.Worker{
		{ID: "w-cpu", Node: "gpu-1", ModelRef: tinyLlama, Backend: "cpu", State: api.WorkerIdle, URL: "http://10.0.0.7:8081", SlotsTotal: 1, SlotsAvailable: 1},
		{ID: "w-cuda1", Node: "gpu-1", ModelRef: tinyLlama, Backend: "cuda", Device: 1, State: api.WorkerBusy, URL: "http://10.0.0.7:8082", SlotsTotal: 4},
		{ID: "w-other", Node: "gpu-3", ModelRef: "/models/q&a=1+2#v?.gguf", Backend: "cpu", State: api.WorkerLoading},
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/workers/list", q.list)
	mux.HandleFunc("POST /v1/workers/spawn", q.spawn)
	mux.HandleFunc("POST /v1/workers/{id}/stop", q.stop)
	q.url = fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		q.mu.Lock()
		q.requests = append(q.requests, workerRequest{method: r.Method, path: r.URL.Path, escapedPath: r.URL.EscapedPath(),
			rawQuery: r.URL.RawQuery, header: r.Header.Clone(), body: body})
		q.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
	return q
}

// only returns the one request the fake queen got.
func (q *workerQueen) only(t *testing.T) workerRequest {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.requests) != 1 {
		t.Fatalf("queen got %d requests, want 1", len(q.requests))
	}
	return q.requests[0]
}

// checkHeaders checks the headers every client request carries, and the
// content type of a request with a JSON body.
func (r workerRequest) checkHeaders(t *testing.T, jsonBody bool) {
	t.Helper()
	want := map[string]string{"Authorization": "Bearer " + testToken, "Accept": "application/json"}
	if jsonBody {
		want["Content-Type"] = "application/json"
	}
	for name, v := range want {
		if got := r.header.Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if !jsonBody && r.header.Get("Content-Type") != "" {
		t.Errorf("Content-Type = %q without a body", r.header.Get("Content-Type"))
	}
	if ua := r.header.Get("User-Agent"); !strings.HasPrefix(ua, "queen-cli/") {
		t.Errorf("User-Agent = %q, want queen-cli/…", ua)
	}
}

// list answers GET /v1/workers/list.
func (q *workerQueen) list(w http.ResponseWriter, r *http.Request) {
	time.Sleep(q.listDelay)
	p := r.URL.Query()
	f := api.WorkerFilter{Node: p.Get("node"), Model: p.Get("model"), Capability: p.Get("capability"), State: p.Get("state")}
	if err := f.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeInvalidField, err.Error(), "fix the query parameter named above")
		return
	}
	l := api.WorkerList{Workers: []api.Worker{}}
	for _, wk := range q.workers {
		if f.Match(wk) {
			l.Workers = append(l.Workers, wk)
		}
	}
	writeJSON(w, http.StatusOK, l)
}

// spawn answers POST /v1/workers/spawn.
func (q *workerQueen) spawn(w http.ResponseWriter, r *http.Request) {
	var req api.SpawnWorkerRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeInvalidJSON, "body is not a spawn request", "")
		return
	}
	if err := req.Validate(true); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeInvalidField, err.Error(), "")
		return
	}
	backend := cmp.Or(req.Backend, api.BackendCPU)
	devices := map[string][]int{api.BackendCPU: {0}, api.BackendCUDA: {0, 1}}[backend]
	switch {
	case req.Node == "gpu-2":
		writeError(w, http.StatusConflict, api.CodeHiveNotOnline, "hive gpu-2 is not online: no heartbeat for 2m10s",
			"start its agent with `queen hive start --node gpu-2`")
	case req.Node == "gpu-3":
		writeError(w, http.StatusBadGateway, api.CodeAgentUnreachable, "agent of gpu-3 at http://10.0.0.9:7835: connection refused",
			"check the agent with `queen hive status --node gpu-3`")
	case req.Node != "gpu-1":
		writeError(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("hive not found: %q", req.Node),
			"list the registered nodes with `queen setup list-nodes`")
	case devices == nil:
		writeError(w, http.StatusUnprocessableEntity, api.CodeBackendUnavailable,
			fmt.Sprintf("backend %s not available on gpu-1; available: [cpu, cuda]", backend), "try --backend cpu or --backend cuda")
	case req.Device != nil && !slices.Contains(devices, *req.Device):
		writeError(w, http.StatusUnprocessableEntity, api.CodeDeviceUnavailable,
			fmt.Sprintf("device %d not available on gpu-1; available: [0, 1]", *req.Device), "try --device 0 or --device 1")
	case req.ModelRef == "hf:acme/crash":
		writeError(w, http.StatusBadGateway, api.CodeWorkerFailed, "worker exited with code 1 before it was ready: error: unknown model architecture",
			"check the model reference; the worker's log is in ~/rbee/logs on gpu-1")
	case req.ModelRef == "hf:acme/slow":
		writeError(w, http.StatusGatewayTimeout, api.CodeLoadingTimeout,
			fmt.Sprintf("worker not ready within %s; it was killed", time.Duration(req.ReadyTimeoutMS)*time.Millisecond),
			"pass a longer --ready-timeout")
	case req.ModelRef == "hf:acme/ports":
		writeError(w, http.StatusServiceUnavailable, api.CodeNoFreePort, "every port of 8081–8999 on gpu-1 is taken",
			"stop a worker with `queen workers stop --id ID`")
	default:
		select {
		case <-time.After(q.loadTime):
		case <-r.Context().Done():
			return
		}
		writeJSON(w, http.StatusCreated, api.Worker{ID: "w-new", Node: req.Node, ModelRef: req.ModelRef, Backend: backend,
			State: api.WorkerIdle, URL: "http://10.0.0.7:8083", SlotsTotal: 1, SlotsAvailable: 1, StartedUnix: time.Now().Unix()})
	}
}

// stop answers POST /v1/workers/{id}/stop.
func (q *workerQueen) stop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q.mu.Lock()
	q.requests[len(q.requests)-1].id = id
	q.mu.Unlock()
	for _, wk := range q.workers {
		if wk.ID == id {
			wk.State = api.WorkerStopping
			writeJSON(w, http.StatusOK, wk)
			return
		}
	}
	writeError(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("worker not found: %q", id),
		"list the workers with `queen workers list`")
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the queen's JSON error body.
func writeError(w http.ResponseWriter, status int, code, msg, hint string) {
	writeJSON(w, status, api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: msg, Hint: hint}})
}
