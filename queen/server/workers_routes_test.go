package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// The worker routes and the relay (README: HTTP API, Workers), over real HTTP
// against an in-process queen. Nodes are put into the registry directly
// and given hive and agent tokens the way install does, so no SSH is
// involved; where the queen calls an agent, an httptest server stands in
// for it.

const (
	modelTiny  = "hf:TheBloke/TinyLlama-1.1B-Chat-GGUF"
	modelLlama = "/models/llama-3-8b.Q4_K_M.gguf"
)

func TestWorkerRouteAuth(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})
	a := addHive(t, reg, "gpu-a", api.StatusOnline)
	b := addHive(t, reg, "gpu-b", api.StatusOnline)
	if r := q.must(t, "POST", "/v1/workers/register", bearerAuth(b.token), routeWorker("w-b-1", api.BackendCPU, 0, modelTiny, api.WorkerIdle)); r.status != http.StatusCreated {
		t.Fatalf("register w-b-1 as gpu-b: %s", r)
	}
	before := q.list(t, "")

	madeUp, _ := install.MintToken()
	foreign := routeWorker("w-a-1", api.BackendCPU, 0, modelTiny, api.WorkerIdle)
	foreign.Node = "gpu-b"
	update := api.UpdateWorkerRequest{ID: "w-b-1", State: api.WorkerBusy}
	beat := api.HeartbeatRequest{PID: 4242, Workers: []api.Worker{}} // would empty gpu-b if accepted
	spawn := api.SpawnWorkerRequest{Node: "gpu-a", ModelRef: modelTiny}
	tests := []struct {
		name         string
		method, path string
		auth         string // the whole Authorization header; "" sends none
		body         any
		wantStatus   int
		wantCode     string
	}{
		{"register without token", "POST", "/v1/workers/register", "", foreign, 401, api.CodeUnauthorized},
		{"register with a made-up token", "POST", "/v1/workers/register", bearerAuth(madeUp), foreign, 401, api.CodeUnauthorized},
		{"register with the admin token", "POST", "/v1/workers/register", bearerAuth(token), foreign, 401, api.CodeUnauthorized},
		{"register with a hive token without Bearer", "POST", "/v1/workers/register", a.token, foreign, 401, api.CodeUnauthorized},
		{"register naming another node", "POST", "/v1/workers/register", bearerAuth(a.token), foreign, 403, api.CodeForbidden},
		{"update without token", "POST", "/v1/workers/update", "", update, 401, api.CodeUnauthorized},
		{"update with a made-up token", "POST", "/v1/workers/update", bearerAuth(madeUp), update, 401, api.CodeUnauthorized},
		{"update of another node's worker", "POST", "/v1/workers/update", bearerAuth(a.token), update, 403, api.CodeForbidden},
		{"delete without token", "DELETE", "/v1/workers/w-b-1", "", nil, 401, api.CodeUnauthorized},
		{"delete with a made-up token", "DELETE", "/v1/workers/w-b-1", bearerAuth(madeUp), nil, 401, api.CodeUnauthorized},
		{"delete of another node's worker", "DELETE", "/v1/workers/w-b-1", bearerAuth(a.token), nil, 403, api.CodeForbidden},
		{"heartbeat without token", "POST", "/v1/hives/gpu-b/heartbeat", "", beat, 401, api.CodeUnauthorized},
		{"heartbeat with a made-up token", "POST", "/v1/hives/gpu-b/heartbeat", bearerAuth(madeUp), beat, 401, api.CodeUnauthorized},
		{"heartbeat with the admin token", "POST", "/v1/hives/gpu-b/heartbeat", bearerAuth(token), beat, 401, api.CodeUnauthorized},
		{"heartbeat with another node's token", "POST", "/v1/hives/gpu-b/heartbeat", bearerAuth(a.token), beat, 403, api.CodeForbidden},
		{"list without token", "GET", "/v1/workers/list", "", nil, 401, api.CodeUnauthorized},
		{"list with a made-up token", "GET", "/v1/workers/list", bearerAuth(madeUp), nil, 401, api.CodeUnauthorized},
		{"list with a hive token", "GET", "/v1/workers/list", bearerAuth(a.token), nil, 401, api.CodeUnauthorized},
		{"spawn without token", "POST", "/v1/workers/spawn", "", spawn, 401, api.CodeUnauthorized},
		{"spawn with a hive token", "POST", "/v1/workers/spawn", bearerAuth(a.token), spawn, 401, api.CodeUnauthorized},
		{"stop without token", "POST", "/v1/workers/w-b-1/stop", "", nil, 401, api.CodeUnauthorized},
		{"stop with the owner's hive token", "POST", "/v1/workers/w-b-1/stop", bearerAuth(b.token), nil, 401, api.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := q.must(t, tt.method, tt.path, tt.auth, tt.body)
			d := wantError(t, r, tt.wantStatus, tt.wantCode)
			if tt.wantStatus == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate = %q, want Bearer", r.header.Get("WWW-Authenticate"))
			}
			if tt.wantStatus == http.StatusForbidden && !strings.Contains(d.Message, "gpu-a") {
				t.Errorf("message %q should name the token's node gpu-a", d.Message)
			}
			if d.Hint == "" {
				t.Errorf("no hint in %+v", d)
			}
		})
	}
	if after := q.list(t, ""); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused requests changed the registry:\n got %+v\nwant %+v", after, before)
	}

	// The refusals were about the token: the owner's token passes each route.
	if r := q.must(t, "POST", "/v1/workers/update", bearerAuth(b.token), update); r.status != http.StatusOK {
		t.Errorf("update by the owner: %s", r)
	}
	if r := q.must(t, "POST", "/v1/hives/gpu-b/heartbeat", bearerAuth(b.token), api.HeartbeatRequest{PID: 4242,
		Workers: []api.Worker{routeWorker("w-b-1", api.BackendCPU, 0, modelTiny, api.WorkerBusy)}}); r.status != http.StatusOK {
		t.Errorf("heartbeat by the owner: %s", r)
	}
	if r := q.must(t, "DELETE", "/v1/workers/w-b-1", bearerAuth(b.token), nil); r.status != http.StatusNoContent {
		t.Errorf("delete by the owner: %s", r)
	}
	if got := q.list(t, ""); len(got) != 0 {
		t.Errorf("after the owner's delete the list holds %v", workerKeys(got))
	}
}

func TestWorkerRegister(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})
	hives := []hiveCreds{
		addHive(t, reg, "gpu-1", api.StatusOnline),
		addHive(t, reg, "gpu-2", api.StatusOnline),
		addHive(t, reg, "gpu-3", api.StatusOnline),
	}

	t.Run("first is 201, the same node again 200 with one entry", func(t *testing.T) {
		w := routeWorker("w-idem", api.BackendCUDA, 1, modelTiny, api.WorkerLoading)
		before := time.Now().Unix()
		r := q.must(t, "POST", "/v1/workers/register", bearerAuth(hives[0].token), w)
		if r.status != http.StatusCreated {
			t.Fatalf("first register: %s", r)
		}
		var got api.Worker
		r.decode(t, &got)
		if got.ID != w.ID || got.Node != "gpu-1" || got.State != api.WorkerLoading || got.LastHeartbeatUnix < before {
			t.Errorf("first register answered %+v; want w-idem of gpu-1 (named by the token), loading, heartbeat ≥ %d", got, before)
		}
		w.Node, w.State, w.SlotsAvailable = "gpu-1", api.WorkerBusy, 0 // naming its own node is allowed
		r = q.must(t, "POST", "/v1/workers/register", bearerAuth(hives[0].token), w)
		if r.status != http.StatusOK {
			t.Fatalf("second register: %s", r)
		}
		list := q.list(t, "")
		if len(list) != 1 || list[0].ID != w.ID || list[0].Node != "gpu-1" || list[0].State != api.WorkerBusy || list[0].SlotsAvailable != 0 {
			t.Errorf("list after two registers = %+v, want one busy gpu-1/w-idem", list)
		}
	})

	t.Run("simultaneous registers of one id have one winner", func(t *testing.T) {
		const rounds = 50
		for round := range rounds {
			id := fmt.Sprintf("w-race-%02d", round)
			replies := registerAtOnce(t, q, hives, routeWorker(id, api.BackendCUDA, 0, modelTiny, api.WorkerIdle))
			var winners []string
			for i, r := range replies {
				switch r.status {
				case http.StatusCreated:
					winners = append(winners, hives[i].name)
				case http.StatusConflict:
				default:
					t.Errorf("round %d, %s: %s", round, hives[i].name, r)
				}
			}
			if len(winners) != 1 {
				t.Fatalf("round %d: winners %v, want exactly one", round, winners)
			}
			for i, r := range replies {
				if r.status != http.StatusConflict {
					continue
				}
				if d := wantError(t, r, http.StatusConflict, api.CodeWorkerConflict); !strings.Contains(d.Message, "node "+winners[0]) {
					t.Errorf("round %d, %s: conflict message %q should name the winner %s", round, hives[i].name, d.Message, winners[0])
				}
			}
			var owners []string
			for _, w := range q.list(t, "") {
				if w.ID == id {
					owners = append(owners, w.Node)
				}
			}
			if !slices.Equal(owners, winners) {
				t.Fatalf("round %d: %s is listed for %v, want once for the winner %s", round, id, owners, winners[0])
			}
		}
		if n := len(q.list(t, "")); n != rounds+1 {
			t.Errorf("%d workers listed, want %d", n, rounds+1)
		}
	})
}

// TestWorkerConcurrentUpdates updates 1,000 workers of 4 nodes at once
// over 50 connections; run it with -race.
func TestWorkerConcurrentUpdates(t *testing.T) {
	reg := openRouteRegistry(t)
	quiet := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	q := startRouteQueen(t, reg, server.Config{Logger: quiet})
	const nodes, workers, conns = 4, 1000, 50
	hives := make([]hiveCreds, nodes)
	for i := range hives {
		hives[i] = addHive(t, reg, fmt.Sprintf("gpu-%d", i), api.StatusOnline)
	}
	owner := func(i int) hiveCreds { return hives[i%nodes] }
	id := func(i int) string { return fmt.Sprintf("w-%04d", i) }

	fanOut(t, workers, conns, func(ctx context.Context, i int) error {
		r, err := q.send(ctx, "POST", "/v1/workers/register", bearerAuth(owner(i).token),
			routeWorker(id(i), api.BackendCUDA, i%8, modelTiny, api.WorkerLoading))
		if err == nil && r.status != http.StatusCreated {
			err = fmt.Errorf("register %s: %s", id(i), r)
		}
		return err
	})
	if t.Failed() {
		t.FailNow()
	}

	// Every field an update sets differs from what was registered (loading,
	// 4 of 4 slots, 10.0.0.7), so a lost update shows.
	states := []string{api.WorkerIdle, api.WorkerBusy, api.WorkerStopping}
	update := func(i int) api.UpdateWorkerRequest {
		total, avail := 8+i%5, 5+i%4
		return api.UpdateWorkerRequest{ID: id(i), State: states[i%len(states)],
			URL: fmt.Sprintf("http://10.1.%d.%d:%d", i/256, i%256, 9000+i), SlotsTotal: &total, SlotsAvailable: &avail}
	}
	// The CLI lists a node's workers while the agents update them.
	ctx, stopListing := context.WithCancel(t.Context())
	listing := make(chan error, 1)
	go func() { listing <- q.keepListing(ctx, "gpu-0", workers/nodes) }()
	fanOut(t, workers, conns, func(ctx context.Context, i int) error {
		u := update(i)
		r, err := q.send(ctx, "POST", "/v1/workers/update", bearerAuth(owner(i).token), u)
		if err != nil {
			return err
		}
		var got api.Worker
		if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil {
			return fmt.Errorf("update %s: %s", u.ID, r)
		}
		if got.State != u.State || got.URL != u.URL || got.SlotsTotal != *u.SlotsTotal || got.SlotsAvailable != *u.SlotsAvailable {
			return fmt.Errorf("update %s answered %+v, want %+v", u.ID, got, u)
		}
		return nil
	})
	stopListing()
	if err := <-listing; err != nil {
		t.Error(err)
	}

	list := q.list(t, "")
	if len(list) != workers {
		t.Fatalf("%d workers listed, want %d", len(list), workers)
	}
	for i, got := range list { // sorted by node, then id
		var n int
		if _, err := fmt.Sscanf(got.ID, "w-%04d", &n); err != nil {
			t.Fatalf("listed id %q: %v", got.ID, err)
		}
		u := update(n)
		if got.Node != owner(n).name || got.State != u.State || got.URL != u.URL ||
			got.SlotsTotal != *u.SlotsTotal || got.SlotsAvailable != *u.SlotsAvailable || got.Device != n%8 {
			t.Errorf("list[%d] = %+v\nwant the update %+v by %s", i, got, u, owner(n).name)
		}
	}
}

func TestWorkerValidation(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})
	h := addHive(t, reg, "gpu-1", api.StatusOnline)
	if r := q.must(t, "POST", "/v1/workers/register", bearerAuth(h.token), routeWorker("w-keep", api.BackendCUDA, 0, modelTiny, api.WorkerIdle)); r.status != http.StatusCreated {
		t.Fatalf("register w-keep: %s", r)
	}
	before := q.list(t, "")
	newW := func(edit func(*api.Worker)) api.Worker {
		w := routeWorker("w-new", api.BackendCUDA, 0, modelTiny, api.WorkerIdle)
		edit(&w)
		return w
	}

	t.Run("register", func(t *testing.T) {
		tests := []struct {
			name  string
			w     api.Worker
			field string
		}{
			{"empty id", newW(func(w *api.Worker) { w.ID = "" }), "worker_id"},
			{"id starting with a dash", newW(func(w *api.Worker) { w.ID = "-w1" }), "worker_id"},
			{"id with a space", newW(func(w *api.Worker) { w.ID = "w 1" }), "worker_id"},
			{"id with a slash", newW(func(w *api.Worker) { w.ID = "w/../1" }), "worker_id"},
			{"id of 65 characters", newW(func(w *api.Worker) { w.ID = strings.Repeat("w", 65) }), "worker_id"},
			{"unknown state", newW(func(w *api.Worker) { w.State = "ready" }), "state"},
			{"empty state", newW(func(w *api.Worker) { w.State = "" }), "state"},
			{"https url", newW(func(w *api.Worker) { w.URL = "https://10.0.0.7:8081" }), "url"},
			{"url without port", newW(func(w *api.Worker) { w.URL = "http://10.0.0.7" }), "url"},
			{"url with a path", newW(func(w *api.Worker) { w.URL = "http://10.0.0.7:8081/v1?x=1" }), "url"},
			{"url with credentials", newW(func(w *api.Worker) { w.URL = "http://u:p@10.0.0.7:8081" }), "url"},
			{"negative slots", newW(func(w *api.Worker) { w.SlotsTotal, w.SlotsAvailable = -1, 0 }), "slots_total"},
			{"too many slots", newW(func(w *api.Worker) { w.SlotsTotal, w.SlotsAvailable = 4097, 0 }), "slots_total"},
			{"more slots free than there are", newW(func(w *api.Worker) { w.SlotsTotal, w.SlotsAvailable = 4, 5 }), "slots_available"},
			{"upper-case backend", newW(func(w *api.Worker) { w.Backend = "CUDA" }), "backend"},
			{"model with a space", newW(func(w *api.Worker) { w.ModelRef = "my model.gguf" }), "model_ref"},
			{"device 256", newW(func(w *api.Worker) { w.Device = 256 }), "device"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := q.must(t, "POST", "/v1/workers/register", bearerAuth(h.token), tt.w)
				wantFieldError(t, r, tt.field)
			})
		}
	})

	t.Run("update", func(t *testing.T) {
		tests := []struct {
			name  string
			u     api.UpdateWorkerRequest
			field string
		}{
			{"empty id", api.UpdateWorkerRequest{State: api.WorkerBusy}, "worker_id"},
			{"id with a slash", api.UpdateWorkerRequest{ID: "w/keep", State: api.WorkerBusy}, "worker_id"},
			{"empty state", api.UpdateWorkerRequest{ID: "w-keep"}, "state"},
			{"unknown state", api.UpdateWorkerRequest{ID: "w-keep", State: "ready"}, "state"},
			{"ftp url", api.UpdateWorkerRequest{ID: "w-keep", State: api.WorkerBusy, URL: "ftp://10.0.0.7:21"}, "url"},
			{"port 0", api.UpdateWorkerRequest{ID: "w-keep", State: api.WorkerBusy, URL: "http://10.0.0.7:0"}, "url"},
			{"too many slots", api.UpdateWorkerRequest{ID: "w-keep", State: api.WorkerBusy, SlotsTotal: refOf(4097)}, "slots_total"},
			{"negative free slots", api.UpdateWorkerRequest{ID: "w-keep", State: api.WorkerBusy, SlotsAvailable: refOf(-1)}, "slots_available"},
			{"more slots free than there are", api.UpdateWorkerRequest{ID: "w-keep", State: api.WorkerBusy,
				SlotsTotal: refOf(8), SlotsAvailable: refOf(9)}, "slots_available"},
			{"negative vram", api.UpdateWorkerRequest{ID: "w-keep", State: api.WorkerBusy, VRAMBytes: refOf(int64(-1))}, "vram_bytes"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := q.must(t, "POST", "/v1/workers/update", bearerAuth(h.token), tt.u)
				wantFieldError(t, r, tt.field)
			})
		}
	})

	t.Run("delete with a bad id", func(t *testing.T) {
		for _, id := range []string{"-w1", "w%201", "w%3Bkeep"} {
			r := q.must(t, "DELETE", "/v1/workers/"+id, bearerAuth(h.token), nil)
			wantFieldError(t, r, "worker_id")
		}
	})

	t.Run("unknown ids are 404", func(t *testing.T) {
		r := q.must(t, "POST", "/v1/workers/update", bearerAuth(h.token), api.UpdateWorkerRequest{ID: "w-none", State: api.WorkerBusy})
		wantError(t, r, http.StatusNotFound, api.CodeNotFound)
		r = q.must(t, "DELETE", "/v1/workers/w-none", bearerAuth(h.token), nil)
		wantError(t, r, http.StatusNotFound, api.CodeNotFound)
	})

	t.Run("bodies", func(t *testing.T) {
		huge := []byte(`{"worker_id":"w-huge","model_ref":"` + strings.Repeat("m", 1<<20) + `"}`)
		tests := []struct {
			name       string
			path       string
			body       []byte
			wantStatus int
			wantCode   string
			wantMsg    string
		}{
			{"register over 1 MiB", "/v1/workers/register", huge, 413, api.CodeBodyTooLarge, "1 MiB"},
			{"update over 1 MiB", "/v1/workers/update", huge, 413, api.CodeBodyTooLarge, "1 MiB"},
			{"heartbeat over 1 MiB", "/v1/hives/gpu-1/heartbeat", huge, 413, api.CodeBodyTooLarge, "1 MiB"},
			{"register with an unknown field", "/v1/workers/register",
				[]byte(`{"worker_id":"w-new","model_ref":"m","backend":"cpu","state":"idle","gpu":"all"}`), 400, api.CodeInvalidJSON, `unknown field "gpu"`},
			{"update with an unknown field", "/v1/workers/update",
				[]byte(`{"worker_id":"w-keep","state":"busy","slots":3}`), 400, api.CodeInvalidJSON, `unknown field "slots"`},
			{"heartbeat with an unknown field", "/v1/hives/gpu-1/heartbeat", []byte(`{"pid":1,"worker":[]}`), 400, api.CodeInvalidJSON, `unknown field "worker"`},
			{"update with two values", "/v1/workers/update",
				[]byte(`{"worker_id":"w-keep","state":"busy"} {"worker_id":"w-keep","state":"idle"}`), 400, api.CodeInvalidJSON, ""},
			{"update with a wrong type", "/v1/workers/update", []byte(`{"worker_id":"w-keep","state":"busy","slots_total":"8"}`), 400, api.CodeInvalidJSON, "slots_total"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := q.must(t, "POST", tt.path, bearerAuth(h.token), tt.body)
				d := wantError(t, r, tt.wantStatus, tt.wantCode)
				if !strings.Contains(d.Message, tt.wantMsg) {
					t.Errorf("message %q should contain %q", d.Message, tt.wantMsg)
				}
				if strings.Contains(d.Message, "mmmm") {
					t.Errorf("message echoes the payload: %.100q", d.Message)
				}
			})
		}
	})

	if after := q.list(t, ""); !reflect.DeepEqual(after, before) {
		t.Errorf("refused requests changed the registry:\n got %+v\nwant %+v", after, before)
	}
}

func TestWorkerListFilters(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})
	a := addHive(t, reg, "gpu-a", api.StatusOnline)
	b := addHive(t, reg, "gpu-b", api.StatusOnline)
	for _, rw := range []struct {
		h hiveCreds
		w api.Worker
	}{
		{a, routeWorker("a-cpu", api.BackendCPU, 0, modelTiny, api.WorkerIdle)},
		{a, routeWorker("a-cuda0", api.BackendCUDA, 0, modelTiny, api.WorkerBusy)},
		{a, routeWorker("a-cuda1", api.BackendCUDA, 1, modelLlama, api.WorkerIdle)},
		{b, routeWorker("b-cpu", api.BackendCPU, 0, modelLlama, api.WorkerLoading)},
		{b, routeWorker("b-cuda0", api.BackendCUDA, 0, modelLlama, api.WorkerIdle)},
		{b, routeWorker("b-rocm0", "rocm", 0, modelTiny, api.WorkerBusy)},
	} {
		if r := q.must(t, "POST", "/v1/workers/register", bearerAuth(rw.h.token), rw.w); r.status != http.StatusCreated {
			t.Fatalf("register %s: %s", rw.w.ID, r)
		}
	}

	tests := []struct {
		name  string
		query url.Values
		want  []string // node/id, in list order
	}{
		{"no filter", nil, []string{"gpu-a/a-cpu", "gpu-a/a-cuda0", "gpu-a/a-cuda1", "gpu-b/b-cpu", "gpu-b/b-cuda0", "gpu-b/b-rocm0"}},
		{"cuda:0", url.Values{"capability": {"cuda:0"}}, []string{"gpu-a/a-cuda0", "gpu-b/b-cuda0"}},
		{"cuda:1", url.Values{"capability": {"cuda:1"}}, []string{"gpu-a/a-cuda1"}},
		{"rocm:0", url.Values{"capability": {"rocm:0"}}, []string{"gpu-b/b-rocm0"}},
		{"a gpu nobody has", url.Values{"capability": {"cuda:7"}}, []string{}},
		{"cpu", url.Values{"capability": {"cpu"}}, []string{"gpu-a/a-cpu", "gpu-b/b-cpu"}},
		{"cpu:0 as the table shows it", url.Values{"capability": {"cpu:0"}}, []string{"gpu-a/a-cpu", "gpu-b/b-cpu"}},
		{"model", url.Values{"model": {modelTiny}}, []string{"gpu-a/a-cpu", "gpu-a/a-cuda0", "gpu-b/b-rocm0"}},
		{"model path", url.Values{"model": {modelLlama}}, []string{"gpu-a/a-cuda1", "gpu-b/b-cpu", "gpu-b/b-cuda0"}},
		{"state", url.Values{"state": {api.WorkerIdle}}, []string{"gpu-a/a-cpu", "gpu-a/a-cuda1", "gpu-b/b-cuda0"}},
		{"node", url.Values{"node": {"gpu-b"}}, []string{"gpu-b/b-cpu", "gpu-b/b-cuda0", "gpu-b/b-rocm0"}},
		{"unknown node", url.Values{"node": {"gpu-z"}}, []string{}},
		{"node and capability", url.Values{"node": {"gpu-b"}, "capability": {"cuda:0"}}, []string{"gpu-b/b-cuda0"}},
		{"model and state", url.Values{"model": {modelLlama}, "state": {api.WorkerIdle}}, []string{"gpu-a/a-cuda1", "gpu-b/b-cuda0"}},
		{"all four", url.Values{"node": {"gpu-a"}, "model": {modelTiny}, "capability": {"cuda:0"}, "state": {api.WorkerBusy}},
			[]string{"gpu-a/a-cuda0"}},
		{"all four, one off", url.Values{"node": {"gpu-a"}, "model": {modelTiny}, "capability": {"cuda:0"}, "state": {api.WorkerIdle}},
			[]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := q.must(t, "GET", "/v1/workers/list?"+tt.query.Encode(), bearerAuth(token), nil)
			if r.status != http.StatusOK {
				t.Fatalf("status: %s", r)
			}
			var list api.WorkerList
			r.decode(t, &list)
			if got := workerKeys(list.Workers); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if len(tt.want) == 0 && !bytes.Contains(r.body, []byte(`"workers":[]`)) {
				t.Errorf("an empty list should be [], not null: %s", r.body)
			}
		})
	}

	bad := []struct {
		name  string
		query url.Values
		field string
	}{
		{"capability without device", url.Values{"capability": {"cuda"}}, "capability"},
		{"capability with a word for a device", url.Values{"capability": {"cuda:x"}}, "capability"},
		{"capability with a leading zero", url.Values{"capability": {"cuda:01"}}, "capability"},
		{"upper-case capability", url.Values{"capability": {"CUDA:0"}}, "capability"},
		{"device 256", url.Values{"capability": {"cuda:256"}}, "capability"},
		{"unknown state", url.Values{"state": {"ready"}}, "state"},
		{"bad node name", url.Values{"node": {"Bad_Node"}}, "node"},
		{"model with a space", url.Values{"model": {"my model"}}, "model"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := q.must(t, "GET", "/v1/workers/list?"+tt.query.Encode(), bearerAuth(token), nil)
			wantFieldError(t, r, tt.field)
		})
	}
}

func TestHeartbeatReconcile(t *testing.T) {
	reg := openRouteRegistry(t)
	cfg := server.Config{HeartbeatInterval: 250 * time.Millisecond}
	q := startRouteQueen(t, reg, cfg)
	a := addHive(t, reg, "gpu-a", api.StatusOnline)
	b := addHive(t, reg, "gpu-b", api.StatusOnline)
	a1 := routeWorker("a-1", api.BackendCUDA, 0, modelTiny, api.WorkerIdle)
	a2 := routeWorker("a-2", api.BackendCUDA, 1, modelTiny, api.WorkerLoading)
	a3 := routeWorker("a-3", api.BackendCPU, 0, modelLlama, api.WorkerIdle)

	t.Run("a beat adds its workers", func(t *testing.T) {
		r := q.heartbeat(t, a, a1, a2, a3)
		var ans api.HeartbeatResponse
		r.decode(t, &ans)
		if ans.IntervalMS != 250 {
			t.Errorf("interval_ms = %d, want 250", ans.IntervalMS)
		}
		if got := workerKeys(q.list(t, "")); !slices.Equal(got, []string{"gpu-a/a-1", "gpu-a/a-2", "gpu-a/a-3"}) {
			t.Errorf("after the beat: %v", got)
		}
	})

	a2.State = api.WorkerIdle
	t.Run("a beat without one removes it", func(t *testing.T) {
		q.heartbeat(t, a, a1, a2)
		list := q.list(t, "")
		if got := workerKeys(list); !slices.Equal(got, []string{"gpu-a/a-1", "gpu-a/a-2"}) {
			t.Fatalf("after the second beat: %v", got)
		}
		if list[1].State != api.WorkerIdle {
			t.Errorf("a-2 is %s, want the beat's idle", list[1].State)
		}
	})

	t.Run("a worker naming another node is 403", func(t *testing.T) {
		before := q.list(t, "")
		foreign := routeWorker("b-9", api.BackendCPU, 0, modelTiny, api.WorkerIdle)
		foreign.Node = "gpu-b"
		r := q.must(t, "POST", "/v1/hives/gpu-a/heartbeat", bearerAuth(a.token), api.HeartbeatRequest{PID: 1, Workers: []api.Worker{a1, foreign}})
		if d := wantError(t, r, http.StatusForbidden, api.CodeForbidden); !strings.Contains(d.Message, "workers[1]") {
			t.Errorf("message %q should name workers[1]", d.Message)
		}
		invalid := a2
		invalid.State = "ready"
		r = q.must(t, "POST", "/v1/hives/gpu-a/heartbeat", bearerAuth(a.token), api.HeartbeatRequest{PID: 1, Workers: []api.Worker{a1, invalid}})
		if d := wantError(t, r, http.StatusBadRequest, api.CodeInvalidField); !strings.Contains(d.Message, "workers[1]") {
			t.Errorf("message %q should name workers[1]", d.Message)
		}
		if after := q.list(t, ""); !reflect.DeepEqual(after, before) {
			t.Errorf("refused beats changed the registry:\n got %+v\nwant %+v", after, before)
		}
	})

	b1 := routeWorker("b-1", api.BackendCUDA, 0, modelLlama, api.WorkerBusy)
	t.Run("an id another node holds is skipped", func(t *testing.T) {
		if r := q.must(t, "POST", "/v1/workers/register", bearerAuth(b.token), b1); r.status != http.StatusCreated {
			t.Fatalf("register b-1: %s", r)
		}
		q.heartbeat(t, a, a1, a2, b1)
		if got := workerKeys(q.list(t, "")); !slices.Equal(got, []string{"gpu-a/a-1", "gpu-a/a-2", "gpu-b/b-1"}) {
			t.Errorf("after gpu-a reported gpu-b's id: %v", got)
		}
	})

	t.Run("a restarted queen is whole after the first beats", func(t *testing.T) {
		want := q.list(t, "")
		q.close()
		q2 := startRouteQueen(t, reg, cfg)
		if got := q2.list(t, ""); len(got) != 0 {
			t.Fatalf("a new queen starts with workers %v; the restart is not simulated", workerKeys(got))
		}
		for range 2 { // a second round of beats must not duplicate anything
			q2.heartbeat(t, a, a1, a2)
			q2.heartbeat(t, b, b1)
			got := q2.list(t, "")
			if !slices.Equal(workerKeys(got), workerKeys(want)) {
				t.Fatalf("after the beats: %v, want %v", workerKeys(got), workerKeys(want))
			}
			for i := range got {
				g, w := got[i], want[i]
				g.LastHeartbeatUnix, w.LastHeartbeatUnix = 0, 0
				if !reflect.DeepEqual(g, w) {
					t.Errorf("after the restart %+v\nbefore it     %+v", g, w)
				}
			}
		}
	})
}

// TestHeartbeatStale drives the stale check with the queen's clock: a hive
// silent for just under StaleAfter keeps its status and workers, one silent
// for just over it is offline with its workers gone, while a hive that
// kept beating stays online; its next beat turns a hive online again.
func TestHeartbeatStale(t *testing.T) {
	const staleAfter = 30 * time.Second
	reg := openRouteRegistry(t)
	clock := newTestClock()
	q := startRouteQueen(t, reg, server.Config{Now: clock.Now, StaleAfter: staleAfter})
	silent := addHive(t, reg, "gpu-silent", api.StatusInstalled)
	alive := addHive(t, reg, "gpu-alive", api.StatusInstalled)
	fresh := addHive(t, reg, "gpu-fresh", api.StatusInstalled) // never set online by install
	for _, h := range []hiveCreds{silent, alive} {
		if err := reg.SetStatus(t.Context(), h.name, api.StatusOnline, nil); err != nil {
			t.Fatal(err)
		}
	}
	s1 := routeWorker("s-1", api.BackendCUDA, 0, modelTiny, api.WorkerIdle)
	s2 := routeWorker("s-2", api.BackendCUDA, 1, modelTiny, api.WorkerBusy)
	l1 := routeWorker("l-1", api.BackendCPU, 0, modelLlama, api.WorkerIdle)
	f1 := routeWorker("f-1", api.BackendCPU, 0, modelLlama, api.WorkerIdle)
	q.heartbeat(t, silent, s1, s2)
	q.heartbeat(t, fresh, f1)
	q.heartbeat(t, alive, l1)
	all := []string{"gpu-alive/l-1", "gpu-fresh/f-1", "gpu-silent/s-1", "gpu-silent/s-2"}
	status := func() map[string]string {
		return map[string]string{"gpu-silent": q.node(t, "gpu-silent").Status,
			"gpu-alive": q.node(t, "gpu-alive").Status, "gpu-fresh": q.node(t, "gpu-fresh").Status}
	}

	clock.Advance(staleAfter - time.Millisecond)
	q.srv.MarkStale(t.Context())
	// A beat is the observation: it turned installed gpu-fresh online.
	want := map[string]string{"gpu-silent": api.StatusOnline, "gpu-alive": api.StatusOnline, "gpu-fresh": api.StatusOnline}
	if got := status(); !reflect.DeepEqual(got, want) {
		t.Errorf("silent for just under StaleAfter: statuses %v, want %v", got, want)
	}
	if got := workerKeys(q.list(t, "")); !slices.Equal(got, all) {
		t.Errorf("silent for just under StaleAfter: workers %v, want %v", got, all)
	}

	q.heartbeat(t, alive, l1)
	clock.Advance(2 * time.Millisecond)
	q.srv.MarkStale(t.Context())
	want = map[string]string{"gpu-silent": api.StatusOffline, "gpu-alive": api.StatusOnline, "gpu-fresh": api.StatusOffline}
	if got := status(); !reflect.DeepEqual(got, want) {
		t.Errorf("silent for just over StaleAfter: statuses %v, want %v", got, want)
	}
	if got := workerKeys(q.list(t, "")); !slices.Equal(got, []string{"gpu-alive/l-1"}) {
		t.Errorf("silent for just over StaleAfter: workers %v, want only gpu-alive's", got)
	}

	q.heartbeat(t, silent, s1, s2)
	if st := q.node(t, "gpu-silent").Status; st != api.StatusOnline {
		t.Errorf("gpu-silent beat again but is %s", st)
	}
	if got := workerKeys(q.list(t, "node=gpu-silent")); !slices.Equal(got, []string{"gpu-silent/s-1", "gpu-silent/s-2"}) {
		t.Errorf("gpu-silent beat again but lists %v", got)
	}
}

// TestStaleCheckRuns: Run checks on its own ticker, and gives a hive that
// is online when the queen starts StaleAfter from then.
func TestStaleCheckRuns(t *testing.T) {
	const staleAfter = 40 * time.Millisecond // Run ticks every 10 ms of real time
	reg := openRouteRegistry(t)
	clock := newTestClock()
	q := startRouteQueen(t, reg, server.Config{Now: clock.Now, StaleAfter: staleAfter})
	h := addHive(t, reg, "gpu-1", api.StatusInstalled)
	if err := reg.SetStatus(t.Context(), h.name, api.StatusOnline, nil); err != nil {
		t.Fatal(err)
	}
	q.run(t)
	// Run notes the online hive at its start, at a moment the test cannot
	// see: every poll moves the clock past StaleAfter again.
	pollUntil(t, 10*time.Second, "gpu-1 offline", func() (bool, string) {
		clock.Advance(staleAfter + time.Millisecond)
		st := q.node(t, "gpu-1").Status
		return st == api.StatusOffline, "status " + st
	})
}

func TestWorkerSpawnStop(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})
	h1 := addHive(t, reg, "gpu-1", api.StatusOnline)
	agent := startFakeAgent(t, "gpu-1", h1.agentToken)
	setAgentURL(t, reg, "gpu-1", agent.url)
	addHive(t, reg, "gpu-new", api.StatusInstalled)
	off := addHive(t, reg, "gpu-off", api.StatusOffline) // its agent answers, but the queen must not ask it
	offAgent := startFakeAgent(t, "gpu-off", off.agentToken)
	setAgentURL(t, reg, "gpu-off", offAgent.url)
	dead := addHive(t, reg, "gpu-dead", api.StatusOnline)
	setAgentURL(t, reg, "gpu-dead", fmt.Sprintf("http://127.0.0.1:%d", closedPort(t)))
	rotated := addHive(t, reg, "gpu-rotated", api.StatusOnline)
	stale, _ := install.MintToken() // the agent was reinstalled by another queen
	rotatedAgent := startFakeAgent(t, "gpu-rotated", stale)
	setAgentURL(t, reg, "gpu-rotated", rotatedAgent.url)

	t.Run("refused spawns", func(t *testing.T) {
		tests := []struct {
			name       string
			body       any
			wantStatus int
			wantCode   string
			wantText   string // in the message (400) or the hint
		}{
			{"no node", api.SpawnWorkerRequest{ModelRef: modelTiny}, 400, api.CodeInvalidField, "invalid node"},
			{"bad node name", api.SpawnWorkerRequest{Node: "GPU_1", ModelRef: modelTiny}, 400, api.CodeInvalidField, "invalid node"},
			{"no model", api.SpawnWorkerRequest{Node: "gpu-1"}, 400, api.CodeInvalidField, "invalid model_ref"},
			{"model with a space", api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: "my model"}, 400, api.CodeInvalidField, "invalid model_ref"},
			{"upper-case backend", api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: modelTiny, Backend: "CUDA"}, 400, api.CodeInvalidField, "invalid backend"},
			{"device 256", api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: modelTiny, Device: refOf(256)}, 400, api.CodeInvalidField, "invalid device"},
			{"negative ready timeout", api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: modelTiny, ReadyTimeoutMS: -1}, 400, api.CodeInvalidField, "invalid ready_timeout_ms"},
			{"unknown field", []byte(`{"node":"gpu-1","model_ref":"m","gpu":0}`), 400, api.CodeInvalidJSON, `unknown field "gpu"`},
			{"unknown node", api.SpawnWorkerRequest{Node: "gpu-none", ModelRef: modelTiny}, 404, api.CodeNotFound, "queen setup list-nodes"},
			{"node not installed", api.SpawnWorkerRequest{Node: "gpu-new", ModelRef: modelTiny}, 409, api.CodeHiveNotOnline, "queen setup install --node gpu-new"},
			{"node offline", api.SpawnWorkerRequest{Node: "gpu-off", ModelRef: modelTiny}, 409, api.CodeHiveNotOnline, "queen hive start --node gpu-off"},
			{"agent port closed", api.SpawnWorkerRequest{Node: "gpu-dead", ModelRef: modelTiny}, 502, api.CodeAgentUnreachable, "queen hive status --node gpu-dead"},
			{"agent refuses the queen's token", api.SpawnWorkerRequest{Node: "gpu-rotated", ModelRef: modelTiny}, 502, api.CodeAgentUnreachable,
				"queen setup install --node gpu-rotated"},
			{"agent answers a worker of another node", api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: "hf:wrong/node"}, 502, api.CodeAgentBadResponse,
				"queen setup install --node gpu-1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := q.must(t, "POST", "/v1/workers/spawn", bearerAuth(token), tt.body)
				d := wantError(t, r, tt.wantStatus, tt.wantCode)
				if !strings.Contains(d.Message+"\n"+d.Hint, tt.wantText) {
					t.Errorf("%+v should say %q", d, tt.wantText)
				}
			})
		}
		if got := q.list(t, ""); len(got) != 0 {
			t.Errorf("refused spawns registered %v", workerKeys(got))
		}
		if n := len(agent.spawnBodies()); n != 1 {
			t.Errorf("gpu-1's agent got %d spawns, want only the one it answered with another node's worker", n)
		}
	})

	t.Run("the agent's 422 is passed through", func(t *testing.T) {
		r := q.must(t, "POST", "/v1/workers/spawn", bearerAuth(token), api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: modelTiny, Backend: api.BackendCUDA, Device: refOf(7)})
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("status: %s", r)
		}
		var body api.ErrorBody
		r.decode(t, &body)
		if body.Error != deviceUnavailable {
			t.Errorf("error %+v, want the agent's %+v", body.Error, deviceUnavailable)
		}
		if got := q.list(t, ""); len(got) != 0 {
			t.Errorf("a refused spawn registered %v", workerKeys(got))
		}
	})

	var spawned api.Worker
	t.Run("a spawn registers the agent's worker", func(t *testing.T) {
		r := q.must(t, "POST", "/v1/workers/spawn", bearerAuth(token), api.SpawnWorkerRequest{Node: "gpu-1", ModelRef: modelLlama, Backend: api.BackendCUDA, Device: refOf(0)})
		if r.status != http.StatusCreated {
			t.Fatalf("status: %s", r)
		}
		r.decode(t, &spawned)
		if spawned.Node != "gpu-1" || spawned.ModelRef != modelLlama || spawned.Capability() != "cuda:0" || spawned.State != api.WorkerIdle {
			t.Errorf("spawn answered %+v", spawned)
		}
		bodies := agent.spawnBodies()
		last := bodies[len(bodies)-1]
		want := map[string]any{"model_ref": modelLlama, "backend": "cuda", "device": 0.0, "ready_timeout_ms": float64(api.DefaultReadyTimeoutMS)}
		if !reflect.DeepEqual(last, want) {
			t.Errorf("the agent got %v, want %v (no node, the default ready timeout)", last, want)
		}
		list := q.list(t, "")
		if len(list) != 1 || list[0].ID != spawned.ID || list[0].Node != "gpu-1" {
			t.Errorf("list after the spawn: %+v", list)
		}
	})

	t.Run("stop is forwarded and removes the entry", func(t *testing.T) {
		if spawned.ID == "" {
			t.Skip("nothing was spawned")
		}
		r := q.must(t, "POST", "/v1/workers/"+spawned.ID+"/stop", bearerAuth(token), nil)
		var got api.Worker
		if r.status != http.StatusOK {
			t.Fatalf("status: %s", r)
		}
		r.decode(t, &got)
		if got.ID != spawned.ID || got.State != api.WorkerStopping {
			t.Errorf("stop answered %+v", got)
		}
		if stops := agent.stoppedIDs(); !slices.Equal(stops, []string{spawned.ID}) {
			t.Errorf("the agent got stops %v, want %s", stops, spawned.ID)
		}
		if list := q.list(t, ""); len(list) != 0 {
			t.Errorf("list after the stop: %v", workerKeys(list))
		}
	})

	register := func(t *testing.T, h hiveCreds, id string) {
		t.Helper()
		if r := q.must(t, "POST", "/v1/workers/register", bearerAuth(h.token), routeWorker(id, api.BackendCPU, 0, modelTiny, api.WorkerIdle)); r.status != http.StatusCreated {
			t.Fatalf("register %s: %s", id, r)
		}
	}
	t.Run("stop of a worker the agent no longer has removes the ghost", func(t *testing.T) {
		register(t, h1, "w-ghost")
		r := q.must(t, "POST", "/v1/workers/w-ghost/stop", bearerAuth(token), nil)
		if r.status != http.StatusOK {
			t.Fatalf("status: %s", r)
		}
		if list := q.list(t, "node=gpu-1"); len(list) != 0 {
			t.Errorf("list after the stop: %v", workerKeys(list))
		}
	})

	t.Run("the agent's error on stop is passed through and the entry kept", func(t *testing.T) {
		register(t, h1, "w-stuck")
		r := q.must(t, "POST", "/v1/workers/w-stuck/stop", bearerAuth(token), nil)
		wantError(t, r, http.StatusInternalServerError, api.CodeInternal)
		if got := workerKeys(q.list(t, "node=gpu-1")); !slices.Equal(got, []string{"gpu-1/w-stuck"}) {
			t.Errorf("list after the failed stop: %v", got)
		}
	})

	t.Run("refused stops keep the entry", func(t *testing.T) {
		register(t, dead, "w-dead")
		register(t, off, "w-off")
		register(t, rotated, "w-rotated")
		before := q.list(t, "")
		tests := []struct {
			name       string
			id         string
			wantStatus int
			wantCode   string
		}{
			{"unknown id", "w-none", 404, api.CodeNotFound},
			{"bad id", "-w", 400, api.CodeInvalidField},
			{"agent port closed", "w-dead", 502, api.CodeAgentUnreachable},
			{"node offline", "w-off", 409, api.CodeHiveNotOnline},
			{"agent refuses the queen's token", "w-rotated", 502, api.CodeAgentUnreachable},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := q.must(t, "POST", "/v1/workers/"+tt.id+"/stop", bearerAuth(token), nil)
				wantError(t, r, tt.wantStatus, tt.wantCode)
			})
		}
		if after := q.list(t, ""); !reflect.DeepEqual(after, before) {
			t.Errorf("refused stops changed the registry:\n got %v\nwant %v", workerKeys(after), workerKeys(before))
		}
	})

	if bad := agent.badAuth(); len(bad) != 0 {
		t.Errorf("gpu-1's agent got Authorization headers %q, want only Bearer <its agent token>", bad)
	}
	if n, stops := len(offAgent.spawnBodies()), offAgent.stoppedIDs(); n != 0 || len(stops) != 0 {
		t.Errorf("the queen called offline gpu-off's agent: %d spawns, stops %v", n, stops)
	}
	// gpu-rotated's agent was shown the token the registry holds for it.
	if got := rotatedAgent.badAuth(); len(got) != 2 || got[0] != bearerAuth(rotated.agentToken) || got[1] != got[0] {
		t.Errorf("gpu-rotated's agent got Authorization headers %q, want the spawn's and the stop's Bearer <registry agent token>", got)
	}
}

// routeQueen is an in-process queen for the worker routes, served over
// real HTTP on its own client.
type routeQueen struct {
	url    string
	srv    *server.Server
	ts     *httptest.Server
	client *http.Client
}

// openRouteRegistry opens a hive registry in a temp file; it is closed after
// every queen using it.
func openRouteRegistry(t testing.TB) *hiveregistry.Registry {
	t.Helper()
	reg, err := hiveregistry.Open(t.Context(), filepath.Join(t.TempDir(), "beehives.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// startRouteQueen serves server.New(cfg) on reg, with the admin token and
// a logger on t.Output() unless cfg has one.
func startRouteQueen(t testing.TB, reg *hiveregistry.Registry, cfg server.Config) *routeQueen {
	t.Helper()
	cfg.Registry, cfg.Token = reg, token
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	s := server.New(cfg)
	ts := httptest.NewServer(s.Handler())
	q := &routeQueen{url: ts.URL, srv: s, ts: ts,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}}
	t.Cleanup(q.close)
	return q
}

// close stops serving; it may be called more than once.
func (q *routeQueen) close() {
	q.client.CloseIdleConnections()
	q.ts.Close()
}

// run runs the stale check until the test ends.
func (q *routeQueen) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// routeReply is one answer of the queen.
type routeReply struct {
	status int
	header http.Header
	body   []byte
}

func (r routeReply) String() string { return fmt.Sprintf("status %d: %.300s", r.status, r.body) }

func (r routeReply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// send makes one request with the Authorization header auth ("" sends
// none). A []byte body is sent as is, anything else as JSON. It does not
// touch t, so goroutines may call it.
func (q *routeQueen) send(ctx context.Context, method, path, auth string, body any) (routeReply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return routeReply{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, q.url+path, rd)
	if err != nil {
		return routeReply{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := q.client.Do(req)
	if err != nil {
		return routeReply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return routeReply{}, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return routeReply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// must is send that fails the test on a transport error.
func (q *routeQueen) must(t testing.TB, method, path, auth string, body any) routeReply {
	t.Helper()
	r, err := q.send(t.Context(), method, path, auth, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// list returns every worker of GET /v1/workers/list?query with the admin
// token, following next_cursor to the last page.
func (q *routeQueen) list(t testing.TB, query string) []api.Worker {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := q.walkList(t.Context(), v)
	if err != nil {
		t.Fatalf("list %q: %v", query, err)
	}
	return all
}

// node returns GET /v1/hives/{name}.
func (q *routeQueen) node(t testing.TB, name string) api.Node {
	t.Helper()
	r := q.must(t, "GET", "/v1/hives/"+name, bearerAuth(token), nil)
	if r.status != http.StatusOK {
		t.Fatalf("get %s: %s", name, r)
	}
	var n api.Node
	r.decode(t, &n)
	return n
}

// heartbeat sends h's heartbeat carrying workers and requires 200.
func (q *routeQueen) heartbeat(t testing.TB, h hiveCreds, workers ...api.Worker) routeReply {
	t.Helper()
	r := q.must(t, "POST", "/v1/hives/"+h.name+"/heartbeat", bearerAuth(h.token), beatOf(workers))
	if r.status != http.StatusOK {
		t.Fatalf("heartbeat of %s: %s", h.name, r)
	}
	return r
}

// keepListing lists node's workers until ctx ends and reports a list that
// is not want long.
func (q *routeQueen) keepListing(ctx context.Context, node string, want int) error {
	for ctx.Err() == nil {
		r, err := q.send(ctx, "GET", "/v1/workers/list?node="+node, bearerAuth(token), nil)
		if ctx.Err() != nil {
			return nil
		}
		var list api.WorkerList
		if err != nil || r.status != http.StatusOK || json.Unmarshal(r.body, &list) != nil {
			return fmt.Errorf("list during the updates: %v %s", err, r)
		}
		if len(list.Workers) != want {
			return fmt.Errorf("list during the updates has %d workers, want %d", len(list.Workers), want)
		}
	}
	return nil
}

// keepBeating sends h's heartbeat every interval until ctx ends.
func (q *routeQueen) keepBeating(ctx context.Context, h hiveCreds, interval time.Duration, workers ...api.Worker) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		r, err := q.send(ctx, "POST", "/v1/hives/"+h.name+"/heartbeat", bearerAuth(h.token), beatOf(workers))
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		case r.status != http.StatusOK:
			return fmt.Errorf("heartbeat of %s: %s", h.name, r)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func beatOf(workers []api.Worker) api.HeartbeatRequest {
	return api.HeartbeatRequest{AgentVersion: "9e2061e0c1d2", PID: 4242, StartedUnix: 1_760_000_000,
		Listen: "0.0.0.0:7835", Capabilities: []string{"cpu", "cuda:0", "cuda:1"}, Workers: workers}
}

// registerAtOnce has every hive register w at the same moment and returns
// their answers in the order of hives.
func registerAtOnce(t testing.TB, q *routeQueen, hives []hiveCreds, w api.Worker) []routeReply {
	t.Helper()
	replies := make([]routeReply, len(hives))
	errs := make([]error, len(hives))
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i, h := range hives {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-start
			replies[i], errs[i] = q.send(t.Context(), "POST", "/v1/workers/register", bearerAuth(h.token), w)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return replies
}

// fanOut runs fn(i) for i in [0, n) on conns goroutines and fails the
// test with every error.
func fanOut(t testing.TB, n, conns int, fn func(ctx context.Context, i int) error) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range conns {
		wg.Go(func() {
			for i := g; i < n; i += conns {
				errs[i] = fn(t.Context(), i)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
}

// hiveCreds is a node in the registry with the tokens install gives it.
type hiveCreds struct {
	name       string
	token      string // the agent's hive token towards the queen
	agentToken string // the queen's token towards the agent
}

// addHive adds node name with status to reg and gives it fresh tokens.
func addHive(t testing.TB, reg *hiveregistry.Registry, name, status string) hiveCreds {
	t.Helper()
	n := api.Node{NodeName: name, SSHHost: "10.0.0.7", SSHPort: 22, SSHUser: "rbee",
		GitRepoURL: "https://github.com/rbee-fleet/rbee.git", GitBranch: "main", InstallPath: "~/rbee",
		AgentPort: 7835, Status: status, Transport: api.TransportHTTP} // stub agents on loopback HTTP
	if err := reg.Add(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	h := hiveCreds{name: name}
	h.token, _ = install.MintToken()
	h.agentToken, _ = install.MintToken()
	if err := reg.SetTokens(t.Context(), name, install.HashToken(h.token), h.agentToken); err != nil {
		t.Fatal(err)
	}
	return h
}

func setAgentURL(t testing.TB, reg *hiveregistry.Registry, name, agentURL string) {
	t.Helper()
	if _, err := reg.Update(t.Context(), name, func(n *api.Node) error { n.AgentURL = agentURL; return nil }); err != nil {
		t.Fatal(err)
	}
}

// fakeAgent stands in for a node's hive agent: it checks the queen's
// token and answers a spawn with a new idle worker, but a spawn of device 7
// with deviceUnavailable and one of model hf:wrong/node with a worker of
// another node; it answers a stop of a worker it spawned with 200, of
// w-stuck with 500 and of anything else with 404.
type fakeAgent struct {
	url   string
	node  string
	token string

	mu      sync.Mutex
	spawns  []map[string]any
	stopped []string
	auths   []string // Authorization headers other than Bearer token
	workers map[string]api.Worker
}

var deviceUnavailable = api.ErrorDetail{Code: api.CodeDeviceUnavailable,
	Message: "device 7 not available on gpu-1; available: [0, 1]", Hint: "spawn on one of the available devices"}

func startFakeAgent(t testing.TB, node, agentToken string) *fakeAgent {
	t.Helper()
	a := newFakeAgent(node, agentToken)
	ts := httptest.NewServer(a.handler())
	t.Cleanup(ts.Close)
	a.url = ts.URL
	return a
}

// newFakeAgent returns a fake agent that is not served yet.
func newFakeAgent(node, agentToken string) *fakeAgent {
	return &fakeAgent{node: node, token: agentToken, workers: map[string]api.Worker{}}
}

// handler is the fake agent's routes behind its token check.
func (a *fakeAgent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/workers/spawn", a.spawn)
	mux.HandleFunc("POST /v1/workers/{id}/stop", a.stop)
	return a.checkToken(mux)
}

func (a *fakeAgent) checkToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+a.token {
			a.mu.Lock()
			a.auths = append(a.auths, got)
			a.mu.Unlock()
			writeAgentJSON(w, http.StatusUnauthorized, api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeUnauthorized, Message: "missing or wrong queen token"}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *fakeAgent) spawn(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.spawns = append(a.spawns, body)
	if body["device"] == 7.0 {
		writeAgentJSON(w, http.StatusUnprocessableEntity, api.ErrorBody{Error: deviceUnavailable})
		return
	}
	wk := routeWorker(fmt.Sprintf("w-%s-%d", a.node, len(a.spawns)), api.BackendCPU, 0, fmt.Sprint(body["model_ref"]), api.WorkerIdle)
	if b, ok := body["backend"].(string); ok {
		wk.Backend = b
	}
	if d, ok := body["device"].(float64); ok {
		wk.Device = int(d)
	}
	wk.Node = a.node
	if wk.ModelRef == "hf:wrong/node" {
		wk.Node = "gpu-9"
	}
	a.workers[wk.ID] = wk
	writeAgentJSON(w, http.StatusCreated, wk)
}

func (a *fakeAgent) stop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	wk, ok := a.workers[id]
	switch {
	case id == "w-stuck":
		writeAgentJSON(w, http.StatusInternalServerError, api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeInternal, Message: "stop w-stuck: signal: operation not permitted"}})
	case !ok:
		writeAgentJSON(w, http.StatusNotFound, api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeNotFound, Message: "no worker " + id}})
	default:
		delete(a.workers, id)
		a.stopped = append(a.stopped, id)
		wk.State = api.WorkerStopping
		writeAgentJSON(w, http.StatusOK, wk)
	}
}

func (a *fakeAgent) spawnBodies() []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.spawns)
}

// stoppedIDs returns the ids of the stops the agent answered 200.
func (a *fakeAgent) stoppedIDs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.stopped)
}

func (a *fakeAgent) badAuth() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.auths)
}

func writeAgentJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// routeWorker returns a worker record as an agent registers it, without its
// node (the hive token names it).
func routeWorker(id, backend string, device int, model, state string) api.Worker {
	free := 4
	if state == api.WorkerBusy {
		free = 0
	}
	return api.Worker{ID: id, URL: fmt.Sprintf("http://10.0.0.7:%d", 8081+device), ModelRef: model, Backend: backend,
		Device: device, State: state, SlotsTotal: 4, SlotsAvailable: free, VRAMBytes: 2 << 30, PID: 41_234,
		StartedUnix: 1_760_000_000}
}

// workerKeys returns node/id of each worker, in order.
func workerKeys(ws []api.Worker) []string {
	keys := make([]string, len(ws))
	for i, w := range ws {
		keys[i] = w.Node + "/" + w.ID
	}
	return keys
}

func bearerAuth(tok string) string { return "Bearer " + tok }

func refOf[T any](v T) *T { return &v }

// wantError fails t unless r is an error answer with status and code, and
// returns its detail.
func wantError(t testing.TB, r routeReply, status int, code string) api.ErrorDetail {
	t.Helper()
	var body api.ErrorBody
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Errorf("want status %d %s; %s (%v)", status, code, r, err)
		return api.ErrorDetail{}
	}
	if r.status != status || body.Error.Code != code {
		t.Errorf("want status %d %s; %s", status, code, r)
	}
	return body.Error
}

// wantFieldError fails t unless r is a 400 INVALID_FIELD naming field.
func wantFieldError(t testing.TB, r routeReply, field string) {
	t.Helper()
	d := wantError(t, r, http.StatusBadRequest, api.CodeInvalidField)
	if !strings.HasPrefix(d.Message, "invalid "+field+" ") && !strings.HasPrefix(d.Message, "invalid "+field+":") {
		t.Errorf("message %q should name the field %s", d.Message, field)
	}
}

// pollUntil polls cond until it holds or timeout passes, then fails with the
// last state cond described.
func pollUntil(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v still not %s: %s", timeout, what, state)
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// TestHeartbeatRepeatedBody checks the queen's shortcut for a body equal to
// the node's last accepted one: the repeat is taken (and still reconciles:
// a worker removed in between by an event comes back), while a different
// body is decoded and checked again.
func TestHeartbeatRepeatedBody(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})
	a := addHive(t, reg, "gpu-a", api.StatusOnline)
	w1 := routeWorker("a-1", api.BackendCPU, 0, modelTiny, api.WorkerIdle)
	q.heartbeat(t, a, w1)
	q.must(t, "DELETE", "/v1/workers/a-1", bearerAuth(a.token), nil)
	if got := q.list(t, ""); len(got) != 0 {
		t.Fatalf("after delete: %v", workerKeys(got))
	}
	q.heartbeat(t, a, w1) // the same bytes again
	if got := workerKeys(q.list(t, "")); !slices.Equal(got, []string{"gpu-a/a-1"}) {
		t.Errorf("after the repeated beat: %v, want a-1 back", got)
	}
	bad := w1
	bad.State = "dancing"
	r := q.must(t, "POST", "/v1/hives/gpu-a/heartbeat", bearerAuth(a.token), beatOf([]api.Worker{bad}))
	if d := wantError(t, r, http.StatusBadRequest, api.CodeInvalidField); !strings.Contains(d.Message, "invalid state") {
		t.Errorf("refused beat: %q, want the state named", d.Message)
	}
	if got := q.list(t, ""); len(got) != 1 || got[0].State != api.WorkerIdle {
		t.Errorf("a refused beat changed the registry: %+v", got)
	}
}
