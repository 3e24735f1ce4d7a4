// Package server is the hive agent's HTTP API (README: HTTP API): health for
// anyone; metrics, devices, spawn, list and stop for the queen (with the
// token whose SHA-256 the agent config holds, replaceable while serving
// with [API.SetQueenTokenSHA256]); the ready callback for workers (with
// their own token, checked before anything else about the callback, so
// that a caller without it learns nothing, not even whether a worker id
// exists).
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/rbee-fleet/rbee/hive-agent/supervisor"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/httpjson"
	"github.com/rbee-fleet/rbee/shared/version"
)

// maxShownPath bounds how much of an unknown path a 404 echoes.
const maxShownPath = 128

// Workers is what the routes need of the supervisor.
type Workers interface {
	Spawn(ctx context.Context, req api.SpawnWorkerRequest) (api.Worker, error)
	Stop(ctx context.Context, id string) (api.Worker, error)
	List() []api.Worker
	Ready(ctx context.Context, token string, cb api.ReadyCallback) error
}

// Config is what the handler serves.
type Config struct {
	// Workers runs the workers; nil serves health only.
	Workers Workers
	// Devices detects the node's devices.
	Devices func(ctx context.Context) api.Devices
	// QueenTokenSHA256 is the hex SHA-256 of the token the queen presents;
	// "" refuses every queen route.
	QueenTokenSHA256 string
}

// API is the agent's routes. The queen token it accepts can be replaced
// while it serves (the agent does so on SIGHUP).
type API struct {
	mux      *http.ServeMux
	queenSum atomic.Pointer[string]
	cfg      Config
	spawns   atomic.Int64
	refused  atomic.Int64
}

// New returns the agent's routes for cfg.
func New(cfg Config) *API {
	h := &API{cfg: cfg, mux: http.NewServeMux()}
	h.SetQueenTokenSHA256(cfg.QueenTokenSHA256)
	h.mux.HandleFunc("GET /v1/health", health)
	h.mux.HandleFunc("/", notFound)
	if cfg.Workers == nil {
		return h
	}
	h.mux.Handle("GET /metrics", h.queen(h.metrics))
	h.mux.Handle("GET /v1/devices", h.queen(h.devices))
	h.mux.Handle("POST /v1/workers/spawn", h.queen(h.spawn))
	h.mux.Handle("GET /v1/workers/list", h.queen(h.list))
	h.mux.Handle("POST /v1/workers/{id}/stop", h.queen(h.stop))
	h.mux.HandleFunc("POST /v1/workers/ready", h.ready)
	return h
}

// Handler returns the agent's routes for cfg, with a queen token that
// stays as cfg has it.
func Handler(cfg Config) http.Handler { return New(cfg) }

// ServeHTTP serves the routes.
func (h *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// SetQueenTokenSHA256 makes sum (hex SHA-256) the queen token's hash from
// the next request on; "" refuses every queen route.
func (h *API) SetQueenTokenSHA256(sum string) { h.queenSum.Store(&sum) }

// health answers without a token while the agent serves requests.
func health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Health{
		Status:     api.HealthAlive,
		Version:    version.String(),
		APIVersion: version.APIVersion,
	})
}

// queen lets a request through only with the queen's token.
func (h *API) queen(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(token))
		want := *h.queenSum.Load()
		if !ok || token == "" || want == "" ||
			subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(want)) != 1 {
			h.refused.Add(1)
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, api.ErrorDetail{Code: api.CodeUnauthorized,
				Message: "missing or wrong queen token",
				Hint:    "only the queen calls these routes; re-run `queen setup install` for this node if the queen is refused"})
			return
		}
		next(w, r)
	})
}

func (h *API) devices(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.cfg.Devices(r.Context()))
}

func (h *API) spawn(w http.ResponseWriter, r *http.Request) {
	var req api.SpawnWorkerRequest
	if !decode(w, r, &req) {
		return
	}
	h.spawns.Add(1)
	wk, err := h.cfg.Workers.Spawn(r.Context(), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, wk)
}

func (h *API) list(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.WorkerList{Workers: h.cfg.Workers.List()})
}

func (h *API) stop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := api.ValidateWorkerID(id); err != nil {
		writeError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidField, Message: err.Error(),
			Hint: "list the workers with `queen workers list`"})
		return
	}
	wk, err := h.cfg.Workers.Stop(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wk)
}

// ready takes a worker's ready callback. A request without a token is
// refused before its body is read; the supervisor checks the token against
// the worker's before it looks at anything else.
func (h *API) ready(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, api.ErrorDetail{Code: api.CodeUnauthorized,
			Message: "missing worker token for the ready callback",
			Hint:    "a worker sends the token it got in " + api.WorkerTokenEnv + " as Authorization: Bearer"})
		return
	}
	var cb api.ReadyCallback
	if !decode(w, r, &cb) {
		return
	}
	if err := h.cfg.Workers.Ready(r.Context(), token, cb); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "worker " + cb.ID + " ready"})
}

func (h *API) metrics(w http.ResponseWriter, r *http.Request) {
	counts := map[string]int{}
	for _, wk := range h.cfg.Workers.List() {
		counts[wk.State]++
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP rbee_agent_workers Workers of this agent by state.")
	fmt.Fprintln(w, "# TYPE rbee_agent_workers gauge")
	for _, st := range api.WorkerStates() {
		fmt.Fprintf(w, "rbee_agent_workers{state=%q} %d\n", st, counts[st])
	}
	fmt.Fprintln(w, "# HELP rbee_agent_spawns_total Spawn requests taken.")
	fmt.Fprintln(w, "# TYPE rbee_agent_spawns_total counter")
	fmt.Fprintf(w, "rbee_agent_spawns_total %d\n", h.spawns.Load())
	fmt.Fprintln(w, "# HELP rbee_agent_unauthorized_total Queen routes refused for a missing or wrong token.")
	fmt.Fprintln(w, "# TYPE rbee_agent_unauthorized_total counter")
	fmt.Fprintf(w, "rbee_agent_unauthorized_total %d\n", h.refused.Load())
	if h.cfg.Devices != nil {
		writeDeviceMetrics(w, h.cfg.Devices(r.Context()))
	}
}

// writeDeviceMetrics writes the node's memory and each GPU's memory.
func writeDeviceMetrics(w http.ResponseWriter, d api.Devices) {
	fmt.Fprintln(w, "# HELP rbee_agent_ram_bytes Memory of the node.")
	fmt.Fprintln(w, "# TYPE rbee_agent_ram_bytes gauge")
	fmt.Fprintf(w, "rbee_agent_ram_bytes %d\n", d.CPU.RAMBytes)
	fmt.Fprintln(w, "# HELP rbee_agent_gpu_memory_total_bytes Memory of each GPU, as nvidia-smi reports it.")
	fmt.Fprintln(w, "# TYPE rbee_agent_gpu_memory_total_bytes gauge")
	for _, g := range d.GPUs {
		fmt.Fprintf(w, "rbee_agent_gpu_memory_total_bytes{gpu=\"%d\",name=%s} %d\n", g.Index, labelValue(g.Name), g.MemoryTotalByte)
	}
	fmt.Fprintln(w, "# HELP rbee_agent_gpu_memory_free_bytes Free memory of each GPU, as nvidia-smi reports it.")
	fmt.Fprintln(w, "# TYPE rbee_agent_gpu_memory_free_bytes gauge")
	for _, g := range d.GPUs {
		fmt.Fprintf(w, "rbee_agent_gpu_memory_free_bytes{gpu=\"%d\",name=%s} %d\n", g.Index, labelValue(g.Name), g.MemoryFreeByte)
	}
}

// labelValue quotes s as a Prometheus label value.
func labelValue(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func notFound(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > maxShownPath {
		path = path[:maxShownPath] + "…"
	}
	writeError(w, http.StatusNotFound, api.ErrorDetail{
		Code:    api.CodeNotFound,
		Message: "no route " + r.Method + " " + path + " on the hive agent",
		Hint:    "see the HTTP API section of the README for the agent's routes",
	})
}

// writeErr answers a supervisor error with its status, anything else
// (a cancelled spawn) with 503.
func writeErr(w http.ResponseWriter, err error) {
	if se, ok := errors.AsType[*supervisor.Error](err); ok {
		writeError(w, se.Status, se.Detail)
		return
	}
	writeError(w, http.StatusServiceUnavailable, api.ErrorDetail{Code: api.CodeHiveNotOnline,
		Message: err.Error(), Hint: "try again"})
}

// The JSON helpers every route uses, shared with the queen.
var (
	writeJSON  = httpjson.Write
	writeError = httpjson.WriteError
	decode     = httpjson.Decode
)
