package api

import "strings"

// Defaults of the hive agent.
const (
	// DefaultWorkerPortMin and DefaultWorkerPortMax bound the ports the
	// agent gives workers.
	DefaultWorkerPortMin = 8081
	DefaultWorkerPortMax = 8999
	// DefaultHeartbeatIntervalMS is the heartbeat interval until the queen
	// says otherwise.
	DefaultHeartbeatIntervalMS = 5000
)

// AgentConfig is <install_path>/hive-agent.json, written by the queen at
// install over SFTP with mode 0600. It holds the hive token: never log it.
type AgentConfig struct {
	// NodeName is the node's name in the queen's registry.
	NodeName string `json:"node_name"`
	// QueenURL is where the agent reaches the queen, e.g.
	// http://10.0.0.1:7833, or unix:///<install path>/run/queen.sock (the
	// queen's remote forward under the ssh transport).
	QueenURL string `json:"queen_url"`
	// QueenURLs are, for an HA pair of queens under the http transport,
	// every queen as agents reach it; the agent beats to one and moves to
	// the one that answers as active. QueenURL, when set, is tried first
	// (it may also be listed here). Empty means QueenURL alone.
	QueenURLs []string `json:"queen_urls,omitempty"`
	// HiveToken authenticates the agent to the queen (Bearer); the queen
	// keeps only its SHA-256.
	HiveToken string `json:"hive_token"`
	// Listen is the agent's HTTP address, e.g. 0.0.0.0:7835, or an
	// absolute Unix socket path (made mode 0600) under the ssh transport.
	Listen string `json:"listen"`
	// WorkerPortMin and WorkerPortMax bound the ports given to workers.
	WorkerPortMin int `json:"worker_port_min"`
	WorkerPortMax int `json:"worker_port_max"`
	// Backends are the worker command templates (README: Workers); may be empty
	// until workers exist.
	Backends []Backend `json:"backends,omitempty"`
	// WorkerHost is the host part of the worker URLs the agent reports, as
	// the queen and clients reach this node, e.g. 10.0.0.2. Empty means
	// 127.0.0.1.
	WorkerHost string `json:"worker_host,omitempty"`
	// QueenTokenSHA256 is the SHA-256 (hex) of the token the queen presents
	// when it calls the agent (spawn, stop, list). The queen keeps that
	// token; the agent only its hash.
	QueenTokenSHA256 string `json:"queen_token_sha256,omitempty"`
	// WorkerStopGraceMS is the time a worker gets between SIGTERM and
	// SIGKILL; 0 means 10 s.
	WorkerStopGraceMS int64 `json:"worker_stop_grace_ms,omitempty"`
	// WorkerHealthIntervalMS is how often the agent checks each ready
	// worker's health (its slots, and whether it answers at all); 0 means
	// 5 s.
	WorkerHealthIntervalMS int64 `json:"worker_health_interval_ms,omitempty"`
	// WorkerHealthTimeoutMS bounds one health check; 0 means 2 s.
	WorkerHealthTimeoutMS int64 `json:"worker_health_timeout_ms,omitempty"`
}

// Kind returns the backend's device kind, "cpu" or "cuda".
func (b Backend) Kind() string {
	switch {
	case b.DeviceKind != "":
		return b.DeviceKind
	case b.Name == BackendCPU:
		return BackendCPU
	default:
		return BackendCUDA
	}
}

// Backend is a worker command template (README: Workers).
type Backend struct {
	// Name is the backend's name, e.g. "cpu", "cuda".
	Name string `json:"name"`
	// Command is the argv template with {worker_id} {model_ref} {backend}
	// {device} {port} {callback_url} placeholders.
	Command []string `json:"command"`
	// HealthURL, when set, is polled for readiness instead of waiting for
	// the ready callback, e.g. http://127.0.0.1:{port}/health.
	HealthURL string `json:"health_url,omitempty"`
	// DeviceKind is what the backend runs on: "cpu" (device 0 only) or
	// "cuda" (an nvidia-smi GPU index). Empty means "cpu" for the backend
	// named cpu and "cuda" for any other.
	DeviceKind string `json:"device_kind,omitempty"`
	// SlotsTotal is the slots a worker of this backend reports when it is
	// ready by health poll (a callback says itself); 0 means 1.
	SlotsTotal int `json:"slots_total,omitempty"`
	// Restart is what the agent does when a ready worker of this backend
	// crashes or stays unhealthy: "on-failure" (the default when empty)
	// starts it again under the same id, "never" leaves it failed.
	Restart string `json:"restart,omitempty"`
	// MaxRestarts bounds the restarts of one worker within 10 minutes;
	// beyond it the worker stays failed. 0 means 3.
	MaxRestarts int `json:"max_restarts,omitempty"`
}

// Placeholders of backend command and health URL templates (README: Workers).
var Placeholders = []string{"{worker_id}", "{model_ref}", "{backend}", "{device}", "{port}", "{callback_url}"}

// HeartbeatRequest is the body of POST /v1/hives/{name}/heartbeat, sent by
// the agent with its hive token.
type HeartbeatRequest struct {
	// AgentVersion is the agent's build version (the git commit).
	AgentVersion string `json:"agent_version"`
	// PID is the agent's process id on the node; the queen uses it to tell
	// a restarted agent from the one before.
	PID int `json:"pid"`
	// StartedUnix is when this agent process started, in Unix seconds.
	StartedUnix int64 `json:"started_unix"`
	// Listen is the agent's listen address as configured.
	Listen string `json:"listen"`
	// Capabilities are the device capabilities, e.g. "cpu", "cuda:0".
	Capabilities []string `json:"capabilities,omitempty"`
	// Workers is the agent's whole worker list (a snapshot; the queen makes
	// its registry's entries of this node match it) or, when Delta is set,
	// only the workers that are new or changed since the beat BaseSeq.
	Workers []Worker `json:"workers"`
	// Seq numbers this agent process's beats from 1 (README: Heartbeat
	// protocol); 0, as old agents send, makes the beat a snapshot the
	// queen applies whatever it saw before.
	Seq uint64 `json:"seq,omitempty"`
	// Delta says that Workers and Removed are the changes since the beat
	// BaseSeq, which the queen acknowledged (HeartbeatResponse.AckedSeq).
	Delta bool `json:"delta,omitempty"`
	// BaseSeq is the beat a delta is relative to; 0 for a snapshot.
	BaseSeq uint64 `json:"base_seq,omitempty"`
	// Removed are the ids of the workers gone since the beat BaseSeq, or
	// named by a beat sent since and never acknowledged; only in a delta.
	Removed []string `json:"removed,omitempty"`
	// Devices are the node's devices, sent with the agent's first beat,
	// when they changed (a GPU came or went, memory moved by more than
	// 1/64 of its total) and when the queen asked (NeedDevices); absent
	// otherwise. The queen keeps the last ones per node.
	Devices *Devices `json:"devices,omitempty"`
}

// HeartbeatResponse is the queen's answer to a heartbeat.
type HeartbeatResponse struct {
	// IntervalMS is how long the agent waits before the next heartbeat.
	IntervalMS int64 `json:"interval_ms"`
	// NeedDevices asks the agent to send its devices with the next beat:
	// the queen has none for the node (it restarted, say).
	NeedDevices bool `json:"need_devices,omitempty"`
	// AckedSeq is the beat's Seq when the queen applied it: the agent may
	// send its next beats as deltas relative to it. 0 (an old queen, or a
	// beat without Seq) means: keep sending snapshots.
	AckedSeq uint64 `json:"acked_seq,omitempty"`
	// NeedSnapshot asks for the whole worker list with the next beat: the
	// queen could not apply a delta (it restarted, forgot the node's
	// workers, or never saw the delta's base).
	NeedSnapshot bool `json:"need_snapshot,omitempty"`
}

// InstallRequest is the body of POST /v1/install (queen setup install) and,
// without Nodes and All, of POST /v1/hives/{name}/install.
type InstallRequest struct {
	// Nodes names the nodes to install; All means every registered node.
	Nodes []string `json:"nodes,omitempty"`
	All   bool     `json:"all,omitempty"`
	// Method is "build", "upload" or "auto" (default): auto builds where the
	// node has a usable Go, else uploads.
	Method string `json:"method,omitempty"`
	// Parallel bounds how many nodes install at once (default 16).
	Parallel int `json:"parallel,omitempty"`
	// Check asks what an install would do, changing nothing: each result
	// is ResultUpToDate or ResultWouldChange with its Plan (install
	// --check).
	Check bool `json:"check,omitempty"`
}

// Install results.
const (
	// ResultInstalled is a node that got a new binary, config or restart.
	ResultInstalled = "installed"
	// ResultUpToDate is a node where nothing had to change.
	ResultUpToDate = "up to date"
	// ResultFailed is a node whose install failed; see Phase and Error.
	ResultFailed = "failed"
)

// InstallResult is the outcome for one node.
type InstallResult struct {
	Node   string `json:"node"`
	Result string `json:"result"` // ResultInstalled, ResultUpToDate or ResultFailed
	// Commit is the installed commit (40 hex digits) when known.
	Commit string `json:"commit,omitempty"`
	// Method is how the binary was made: "build", "upload", or "" when
	// nothing was made.
	Method     string `json:"method,omitempty"`
	AgentPID   int    `json:"agent_pid,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	// Phase is the phase that failed.
	Phase string       `json:"phase,omitempty"`
	Error *ErrorDetail `json:"error,omitempty"`
	// Plan is what an install would do, in order, for a check
	// (InstallRequest.Check); empty when nothing would change.
	Plan []PlanStep `json:"plan,omitempty"`
}

// ResultWouldChange is the result of a check (InstallRequest.Check) on a
// node where an install would change something; the result's Plan says
// what.
const ResultWouldChange = "would change"

// Steps of an install plan.
const (
	StepFetch   = "fetch"
	StepBuild   = "build"
	StepUpload  = "upload"
	StepRestart = "restart"
)

// PlanSummary joins a plan's steps: "fetch + build + restart".
func PlanSummary(plan []PlanStep) string {
	steps := make([]string, len(plan))
	for i, st := range plan {
		steps[i] = st.Step
	}
	return strings.Join(steps, " + ")
}

// PlanStep is one thing an install would do on a node, and why.
type PlanStep struct {
	// Step is StepFetch, StepBuild, StepUpload or StepRestart.
	Step string `json:"step"`
	// Why says what the check saw, e.g. "checkout at 0123456789ab, branch
	// head 89abcdef0123".
	Why string `json:"why"`
}

// InstallReport is the result of an install stream: one entry per node, in
// the order the nodes were named (or by name for All).
type InstallReport struct {
	Results []InstallResult `json:"results"`
}

// UninstallRequest is the body of POST /v1/hives/{name}/uninstall.
type UninstallRequest struct {
	// KeepSource keeps the git checkout; everything else install made goes.
	KeepSource bool `json:"keep_source,omitempty"`
}

// HiveStatus is the body of GET /v1/hives/{name}/status and the result of
// POST /v1/hives/{name}/start|stop.
type HiveStatus struct {
	Node            string `json:"node"`
	Status          string `json:"status"`
	AgentURL        string `json:"agent_url,omitempty"`
	AgentVersion    string `json:"agent_version,omitempty"`
	InstalledCommit string `json:"installed_commit,omitempty"`
	// AgentPID is the pid of the agent from its last heartbeat.
	AgentPID int `json:"agent_pid,omitempty"`
	// LastHeartbeatUnix is when the last heartbeat arrived (0: none since
	// the queen started).
	LastHeartbeatUnix int64 `json:"last_heartbeat_unix,omitempty"`
	// Health is the verdict of asking the agent's GET /v1/health just now:
	// HealthHealthy, HealthIncompatible, HealthDrift or HealthUnreachable.
	Health string `json:"health"`
	// Healthy is true only when Health is HealthHealthy.
	Healthy bool `json:"healthy"`
	// HealthError says why the agent is not healthy, e.g. "running
	// 0123456789ab, installed 3f2a9c1d4e5b".
	HealthError string `json:"health_error,omitempty"`
	// RunningVersion is the version the agent's health route answered.
	RunningVersion string `json:"running_version,omitempty"`
	// LastInstall is the outcome of the node's last install.
	LastInstall InstallRecord `json:"last_install,omitzero"`
	// Transport is the node's transport, "ssh" or "http".
	Transport string `json:"transport,omitempty"`
	// Connection is the state of the queen's pooled SSH connection.
	Connection SSHConnection `json:"ssh_connection,omitzero"`
	// Devices are the node's devices as its agent last reported them;
	// absent until it did.
	Devices *Devices `json:"devices,omitempty"`
}
