package api

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Worker states (README: Workers).
const (
	// WorkerLoading: spawned, not ready yet.
	WorkerLoading = "loading"
	// WorkerIdle: ready, with free slots.
	WorkerIdle = "idle"
	// WorkerBusy: ready, every slot taken.
	WorkerBusy = "busy"
	// WorkerUnhealthy: was ready, but its health check failed several times
	// in a row (a wedged or overloaded process); it is never idle and gets
	// no work until a check succeeds again.
	WorkerUnhealthy = "unhealthy"
	// WorkerStopping: asked to stop, not gone yet.
	WorkerStopping = "stopping"
	// WorkerFailed: exited on its own and not restarted (restart policy
	// never, or its restart limit reached); the agent keeps it listed with
	// its exit code until it is stopped.
	WorkerFailed = "failed"
)

// WorkerStates returns every worker state, in lifecycle order.
func WorkerStates() []string {
	return []string{WorkerLoading, WorkerIdle, WorkerBusy, WorkerUnhealthy, WorkerStopping, WorkerFailed}
}

// Worker is one inference worker as the queen's worker registry and the
// agent's list show it.
type Worker struct {
	ID       string `json:"worker_id"`
	Node     string `json:"node_name"`
	URL      string `json:"url"`
	ModelRef string `json:"model_ref"`
	Backend  string `json:"backend"`
	Device   int    `json:"device"`
	State    string `json:"state"`
	// SlotsTotal and SlotsAvailable count the requests the worker serves at
	// once, and how many of those are free.
	SlotsTotal     int   `json:"slots_total"`
	SlotsAvailable int   `json:"slots_available"`
	VRAMBytes      int64 `json:"vram_bytes,omitempty"`
	PID            int   `json:"pid,omitempty"`
	// LastHeartbeatUnix is when the queen last heard of the worker (a
	// register, an update or its agent's heartbeat).
	LastHeartbeatUnix int64 `json:"last_heartbeat_unix,omitempty"`
	StartedUnix       int64 `json:"started_unix"`
	// ExitCode is set with state failed.
	ExitCode *int `json:"exit_code,omitempty"`
	// Restarts counts how often the agent started the worker again under
	// the same id after it crashed or stayed unhealthy.
	Restarts int `json:"restarts,omitempty"`
	// Killed is set only in the answer to a stop: the worker ignored
	// SIGTERM and was killed with SIGKILL after the grace.
	Killed bool `json:"killed,omitempty"`
	// StopMS is set only in the answer to a stop: how long the worker took
	// to be gone, in milliseconds.
	StopMS int64 `json:"stop_ms,omitempty"`
}

// Capability returns the device capability the worker runs on: "cpu" for
// the cpu backend, else "<backend>:<device>", e.g. "cuda:1".
func (w Worker) Capability() string {
	return CapabilityOf(w.Backend, w.Device)
}

// CapabilityOf returns the capability string of a backend and device.
func CapabilityOf(backend string, device int) string {
	if backend == BackendCPU {
		return BackendCPU
	}
	return backend + ":" + strconv.Itoa(device)
}

// Restart policies of a backend (Backend.Restart).
const (
	// RestartOnFailure starts a worker that crashed or stayed unhealthy
	// again, with backoff, up to the backend's restart limit; the default.
	RestartOnFailure = "on-failure"
	// RestartNever leaves such a worker failed (or unhealthy).
	RestartNever = "never"
)

// DefaultMaxRestarts is how many restarts a backend allows in
// RestartWindow when its max_restarts is 0.
const DefaultMaxRestarts = 3

// RestartPolicy returns the backend's restart policy, RestartOnFailure
// when it has none.
func (b Backend) RestartPolicy() string {
	if b.Restart == "" {
		return RestartOnFailure
	}
	return b.Restart
}

// RestartLimit returns how many restarts the backend allows within the
// restart window: MaxRestarts, or DefaultMaxRestarts when it is 0.
func (b Backend) RestartLimit() int {
	if b.MaxRestarts == 0 {
		return DefaultMaxRestarts
	}
	return b.MaxRestarts
}

// Backend names with a meaning of their own.
const (
	// BackendCPU runs on the CPU; it has one device, 0.
	BackendCPU = "cpu"
	// BackendCUDA runs on an NVIDIA GPU given by its nvidia-smi index.
	BackendCUDA = "cuda"
)

// WorkerList is the body of the agent's GET /v1/workers/list, and the
// workers of the queen's, whose answer is a [WorkerPage] (one page of the
// list, with the cursor of the next).
type WorkerList struct {
	Workers []Worker `json:"workers"`
}

// WorkerFilter selects workers in GET /v1/workers/list (the parameters
// node, model, capability and state); empty fields match everything.
type WorkerFilter struct {
	Node       string `json:"node,omitempty"`
	Model      string `json:"model,omitempty"`
	Capability string `json:"capability,omitempty"`
	State      string `json:"state,omitempty"`
}

// Match reports whether w passes the filter.
func (f WorkerFilter) Match(w Worker) bool {
	return (f.Node == "" || f.Node == w.Node) &&
		(f.Model == "" || f.Model == w.ModelRef) &&
		(f.Capability == "" || f.Capability == w.Capability()) &&
		(f.State == "" || f.State == w.State)
}

// Canonical returns f with its capability in the form workers have: the
// list shows a cpu worker as cpu:0, its capability is "cpu".
func (f WorkerFilter) Canonical() WorkerFilter {
	if f.Capability == BackendCPU+":0" {
		f.Capability = BackendCPU
	}
	return f
}

// Validate checks the fields that are set.
func (f WorkerFilter) Validate() error {
	if f.Node != "" {
		if err := validateNodeName("node", f.Node); err != nil {
			return err
		}
	}
	if f.Model != "" {
		if err := validateModelRef("model", f.Model); err != nil {
			return err
		}
	}
	if f.Capability != "" {
		if err := ValidateCapability(f.Capability); err != nil {
			return err
		}
	}
	if f.State != "" {
		if err := validateWorkerState("state", f.State); err != nil {
			return err
		}
	}
	return nil
}

// RegisterWorkerRequest is the body of POST /v1/workers/register, sent by an
// agent with its hive token. Node may be empty (the token names it); when
// set it must be the token's node.
type RegisterWorkerRequest = Worker

// UpdateWorkerRequest is the body of POST /v1/workers/update: a state change
// of one worker of the token's node. Nil fields stay as they are.
type UpdateWorkerRequest struct {
	ID             string `json:"worker_id"`
	State          string `json:"state"`
	URL            string `json:"url,omitempty"`
	SlotsTotal     *int   `json:"slots_total,omitempty"`
	SlotsAvailable *int   `json:"slots_available,omitempty"`
	VRAMBytes      *int64 `json:"vram_bytes,omitempty"`
	ExitCode       *int   `json:"exit_code,omitempty"`
}

// Validate checks the request.
func (r UpdateWorkerRequest) Validate() error {
	if err := ValidateWorkerID(r.ID); err != nil {
		return err
	}
	if err := validateWorkerState("state", r.State); err != nil {
		return err
	}
	if r.URL != "" {
		if err := validateWorkerURL("url", r.URL); err != nil {
			return err
		}
	}
	for field, v := range map[string]*int{"slots_total": r.SlotsTotal, "slots_available": r.SlotsAvailable} {
		if v != nil && (*v < 0 || *v > maxSlots) {
			return fieldErr(field, strconv.Itoa(*v), ruleSlots)
		}
	}
	if r.SlotsTotal != nil && r.SlotsAvailable != nil && *r.SlotsAvailable > *r.SlotsTotal {
		return fieldErr("slots_available", strconv.Itoa(*r.SlotsAvailable), "must not be above slots_total")
	}
	if r.VRAMBytes != nil && *r.VRAMBytes < 0 {
		return fieldErr("vram_bytes", strconv.FormatInt(*r.VRAMBytes, 10), "must not be negative")
	}
	return nil
}

// SpawnWorkerRequest is the body of POST /v1/workers/spawn at the queen
// (Node required) and at the agent (Node ignored).
type SpawnWorkerRequest struct {
	Node     string `json:"node,omitempty"`
	ModelRef string `json:"model_ref"`
	// Backend defaults to "cpu".
	Backend string `json:"backend,omitempty"`
	// Device is the device index; nil picks one (for cuda the GPU with the
	// most free memory).
	Device *int `json:"device,omitempty"`
	// ReadyTimeoutMS bounds the wait for readiness; 0 means 5 minutes.
	ReadyTimeoutMS int64 `json:"ready_timeout_ms,omitempty"`
}

// DefaultReadyTimeoutMS is how long a spawn waits for a worker to be ready.
const DefaultReadyTimeoutMS = 5 * 60 * 1000

// Validate checks the request; at the queen requireNode is true.
func (r SpawnWorkerRequest) Validate(requireNode bool) error {
	if requireNode || r.Node != "" {
		if err := validateNodeName("node", r.Node); err != nil {
			return err
		}
	}
	if err := validateModelRef("model_ref", r.ModelRef); err != nil {
		return err
	}
	if r.Backend != "" {
		if err := ValidateBackendName(r.Backend); err != nil {
			return err
		}
	}
	if r.Device != nil && (*r.Device < 0 || *r.Device > maxDevice) {
		return fieldErr("device", strconv.Itoa(*r.Device), "must be 0–"+strconv.Itoa(maxDevice))
	}
	if r.ReadyTimeoutMS < 0 {
		return fieldErr("ready_timeout_ms", strconv.FormatInt(r.ReadyTimeoutMS, 10), "must not be negative")
	}
	return nil
}

// ReadyCallback is the body a worker POSTs to its callback URL when it is
// ready (README: Workers), with its token in Authorization: Bearer.
type ReadyCallback struct {
	ID         string `json:"worker_id"`
	URL        string `json:"url"`
	ModelRef   string `json:"model_ref"`
	Backend    string `json:"backend"`
	Device     int    `json:"device"`
	SlotsTotal int    `json:"slots_total"`
	VRAMBytes  int64  `json:"vram_bytes"`
}

// Validate checks a ready callback: the worker id, the worker's URL (an
// idle worker needs one), and slots and VRAM in range.
func (cb ReadyCallback) Validate() error {
	if err := ValidateWorkerID(cb.ID); err != nil {
		return err
	}
	if err := validateWorkerURL("url", cb.URL); err != nil {
		return err
	}
	if cb.SlotsTotal < 0 || cb.SlotsTotal > maxSlots {
		return fieldErr("slots_total", strconv.Itoa(cb.SlotsTotal), ruleSlots)
	}
	if cb.VRAMBytes < 0 {
		return fieldErr("vram_bytes", strconv.FormatInt(cb.VRAMBytes, 10), "must not be negative")
	}
	return nil
}

// WorkerTokenEnv is the environment variable that carries a worker's
// callback token.
const WorkerTokenEnv = "RBEE_WORKER_TOKEN"

// Limits of worker fields.
const (
	maxWorkerIDLen  = 64
	maxModelRefLen  = 256
	maxBackendLen   = 32
	maxDevice       = 255
	maxSlots        = 4096
	maxWorkerURLLen = 256
)

const (
	ruleWorkerID   = "must be 1–64 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit"
	ruleModelRef   = "must be 1–256 printable characters without spaces, not starting with '-', e.g. hf:TheBloke/TinyLlama-GGUF or /models/tiny.gguf"
	ruleBackend    = "must be 1–32 lowercase letters, digits, '-' or '_', starting with a letter, e.g. cpu or cuda"
	ruleCapability = "must be cpu or <backend>:<device>, e.g. cuda:0"
	ruleSlots      = "must be 0–4096"
	ruleWorkerURL  = "must be an http:// URL with a host and port, e.g. http://10.0.0.2:8081"
)

// ValidateWorkerID checks a worker id as found in a URL path or a request.
func ValidateWorkerID(id string) error {
	if id == "" || len(id) > maxWorkerIDLen || !isASCIIAlnum(id[0]) {
		return fieldErr("worker_id", id, ruleWorkerID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isASCIIAlnum(c) && c != '-' && c != '_' && c != '.' {
			return fieldErr("worker_id", id, ruleWorkerID)
		}
	}
	return nil
}

// ValidateModelRef checks a model reference.
func ValidateModelRef(ref string) error { return validateModelRef("model_ref", ref) }

func validateModelRef(field, ref string) error {
	// A leading '-' would reach the worker's command line as an option.
	if ref == "" || ref[0] == '-' || len(ref) > maxModelRefLen || hasControl(ref) || strings.ContainsFunc(ref, isSpace) {
		return fieldErr(field, ref, ruleModelRef)
	}
	return nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\u00a0' || r == '\u3000' }

// ValidateBackendName checks a backend name.
func ValidateBackendName(name string) error {
	if name == "" || len(name) > maxBackendLen || !('a' <= name[0] && name[0] <= 'z') {
		return fieldErr("backend", name, ruleBackend)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') && c != '-' && c != '_' {
			return fieldErr("backend", name, ruleBackend)
		}
	}
	return nil
}

// ValidateCapability checks a capability string such as "cpu" or "cuda:0".
func ValidateCapability(c string) error {
	if c == BackendCPU {
		return nil
	}
	backend, dev, ok := strings.Cut(c, ":")
	n, err := strconv.Atoi(dev)
	if !ok || ValidateBackendName(backend) != nil || err != nil || n < 0 || n > maxDevice || strconv.Itoa(n) != dev {
		return fieldErr("capability", c, ruleCapability)
	}
	return nil
}

func validateWorkerState(field, state string) error {
	if !slices.Contains(WorkerStates(), state) {
		return fieldErr(field, state, "must be one of "+strings.Join(WorkerStates(), ", "))
	}
	return nil
}

func validateWorkerURL(field, u string) error {
	p, err := url.Parse(u)
	if err != nil || len(u) > maxWorkerURLLen || hasControl(u) || p.Scheme != "http" || p.User != nil ||
		p.Hostname() == "" || (p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.Fragment != "" {
		return fieldErr(field, u, ruleWorkerURL)
	}
	if port, err := strconv.Atoi(p.Port()); err != nil || port < 1 || port > 65535 {
		return fieldErr(field, u, ruleWorkerURL)
	}
	return nil
}

// ValidateWorker checks a worker record as an agent registers or reports it.
func ValidateWorker(w Worker) error {
	if err := ValidateWorkerID(w.ID); err != nil {
		return err
	}
	if w.Node != "" {
		if err := validateNodeName("node_name", w.Node); err != nil {
			return err
		}
	}
	if err := validateModelRef("model_ref", w.ModelRef); err != nil {
		return err
	}
	if err := ValidateBackendName(w.Backend); err != nil {
		return err
	}
	if w.Device < 0 || w.Device > maxDevice {
		return fieldErr("device", strconv.Itoa(w.Device), "must be 0–"+strconv.Itoa(maxDevice))
	}
	if err := validateWorkerState("state", w.State); err != nil {
		return err
	}
	if w.URL != "" {
		if err := validateWorkerURL("url", w.URL); err != nil {
			return err
		}
	}
	if w.SlotsTotal < 0 || w.SlotsTotal > maxSlots {
		return fieldErr("slots_total", strconv.Itoa(w.SlotsTotal), ruleSlots)
	}
	if w.SlotsAvailable < 0 || w.SlotsAvailable > w.SlotsTotal {
		return fieldErr("slots_available", strconv.Itoa(w.SlotsAvailable), "must be 0–slots_total")
	}
	if w.VRAMBytes < 0 {
		return fieldErr("vram_bytes", strconv.FormatInt(w.VRAMBytes, 10), "must not be negative")
	}
	return nil
}

// GPU is one NVIDIA GPU as nvidia-smi reports it.
type GPU struct {
	Index           int    `json:"index"`
	Name            string `json:"name"`
	MemoryTotalByte int64  `json:"memory_total_bytes"`
	MemoryFreeByte  int64  `json:"memory_free_bytes"`
}

// CPU is the node's processor and memory.
type CPU struct {
	Cores    int   `json:"cores"`
	RAMBytes int64 `json:"ram_bytes"`
	// RAMFreeBytes is MemAvailable of /proc/meminfo (0 when unknown).
	RAMFreeBytes int64 `json:"ram_free_bytes,omitempty"`
}

// Devices is the body of GET /v1/devices on the agent and the output of
// `hive-agent devices --json`.
type Devices struct {
	CPU  CPU   `json:"cpu"`
	GPUs []GPU `json:"gpus"`
	// Capabilities are "cpu" then "cuda:<index>" per GPU.
	Capabilities []string `json:"capabilities"`
	// Warnings name lines of nvidia-smi's output that were skipped.
	Warnings []string `json:"warnings,omitempty"`
}
