package api

// Error codes used in [ErrorDetail.Code]. Clients branch on the code, never on
// the message.
const (
	// CodeInvalidField is a request that failed validation (HTTP 400).
	CodeInvalidField = "INVALID_FIELD"
	// CodeInvalidJSON is a body that is not the JSON the route expects (HTTP 400).
	CodeInvalidJSON = "INVALID_JSON"
	// CodeUnauthorized is a missing, malformed or wrong bearer token (HTTP 401).
	CodeUnauthorized = "UNAUTHORIZED"
	// CodeNotFound is an unknown node or worker (HTTP 404).
	CodeNotFound = "NOT_FOUND"
	// CodeAlreadyExists is an add of a name that is already taken (HTTP 409).
	CodeAlreadyExists = "ALREADY_EXISTS"
	// CodeBodyTooLarge is a body over the 1 MiB limit (HTTP 413).
	CodeBodyTooLarge = "BODY_TOO_LARGE"
	// CodeSSHConnectFailed is a node the queen could not reach over SSH after
	// its retries: timeout, refused, unreachable (HTTP 502).
	CodeSSHConnectFailed = "SSH_CONNECT_FAILED"
	// CodeSSHAuthFailed is a node that refused the key (HTTP 422).
	CodeSSHAuthFailed = "SSH_AUTH_FAILED"
	// CodeHostKeyMismatch is a node whose host key differs from the pinned or
	// expected one (HTTP 409).
	CodeHostKeyMismatch = "HOST_KEY_MISMATCH"
	// CodeSSHCommandFailed is a node that connected but whose check command
	// failed or answered wrongly (HTTP 502).
	CodeSSHCommandFailed = "SSH_COMMAND_FAILED"
	// CodeInstallFailed is an install phase that failed on a node; the
	// message names the phase.
	CodeInstallFailed = "INSTALL_FAILED"
	// CodeInternal is a bug on the server side (HTTP 500).
	CodeInternal = "INTERNAL"
)

// ErrorBody is the JSON body of every error response:
//
//	{"error":{"code":"UPPER_SNAKE","message":"…","hint":"…"}}
type ErrorBody struct {
	// Error is the one error of the response.
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong and what to do next. It never echoes a
// secret or the raw request payload.
type ErrorDetail struct {
	// Code is a stable UPPER_SNAKE identifier, one of the Code constants.
	Code string `json:"code"`
	// Message is one lower-case line for humans naming what was wrong.
	Message string `json:"message"`
	// Hint is the next step: the command to run or the flag to change.
	Hint string `json:"hint,omitempty"`
	// RequestID is the X-Request-ID of the request that failed, the same
	// as in the daemon's log lines about it.
	RequestID string `json:"request_id,omitempty"`
}

// Error codes of the worker routes.
const (
	// CodeForbidden is a hive token used for another node's hive or worker
	// (HTTP 403).
	CodeForbidden = "FORBIDDEN"
	// CodeWorkerConflict is a worker id registered by another node (HTTP 409).
	CodeWorkerConflict = "WORKER_CONFLICT"
	// CodeBackendUnavailable is a spawn for a backend the agent's config
	// lacks (HTTP 422); the message lists the backends that can run on the
	// node (installed, and GPU ones only when nvidia-smi finds a GPU).
	CodeBackendUnavailable = "BACKEND_UNAVAILABLE"
	// CodeDeviceUnavailable is a spawn for a device the node does not have
	// (HTTP 422); the message lists the devices it has.
	CodeDeviceUnavailable = "DEVICE_UNAVAILABLE"
	// CodeNoFreePort is a spawn when every port of the worker range is taken
	// (HTTP 503).
	CodeNoFreePort = "NO_FREE_PORT"
	// CodeWorkerFailed is a worker that exited before it was ready (HTTP 502);
	// the message carries its exit code and the tail of its stderr.
	CodeWorkerFailed = "WORKER_FAILED"
	// CodeLoadingTimeout is a worker not ready within the ready timeout
	// (HTTP 504); it was killed.
	CodeLoadingTimeout = "LOADING_TIMEOUT"
	// CodeHiveNotOnline is a worker operation on a node whose agent does not
	// heartbeat (HTTP 409).
	CodeHiveNotOnline = "HIVE_NOT_ONLINE"
	// CodeAgentUnreachable is an agent the queen could not reach (HTTP 502).
	CodeAgentUnreachable = "AGENT_UNREACHABLE"
	// CodeWorkerUnreachable is a worker port the queen could not open a
	// tunnel to (HTTP 502).
	CodeWorkerUnreachable = "WORKER_UNREACHABLE"
)

// Error codes of node lifecycle safety (issue 9).
const (
	// CodeNodeRemoved answers a heartbeat whose hive token belongs to a node
	// that was removed from the registry (HTTP 410).
	CodeNodeRemoved = "NODE_REMOVED"
	// CodeAgentRunning refuses to remove a node whose agent still
	// heartbeats (HTTP 409); the message names its pid and worker count.
	CodeAgentRunning = "AGENT_RUNNING"
	// CodeHiveStopped is a worker operation on a node whose agent was
	// stopped with `queen hive stop` (HTTP 409).
	CodeHiveStopped = "HIVE_STOPPED"
	// CodeUnsafePath refuses an install path or a remote delete that could
	// touch what rbee did not create (HTTP 400 or 409).
	CodeUnsafePath = "UNSAFE_PATH"
	// CodeBackendNotInstalled is a spawn whose backend command is missing
	// on the node, e.g. <install path>/bin/rbee-worker (HTTP 503); the hint
	// names the install to re-run.
	CodeBackendNotInstalled = "BACKEND_NOT_INSTALLED"
)

// Error codes of issue 10: a step that failed after SSH worked, an agent
// that answered garbage, a registry locked by another writer.
const (
	// CodeHiveOpFailed is a step of `queen hive start|stop` or `queen setup
	// uninstall` that failed on a node SSH reached (HTTP 502, or the last
	// event of the stream); the message is the step's error and the hint
	// its next step. Failures to connect keep their SSH_* codes.
	CodeHiveOpFailed = "HIVE_OP_FAILED"
	// CodeAgentBadResponse is an agent the queen reached that answered
	// something the API does not allow: not JSON, the wrong shape, a
	// worker record that fails validation (HTTP 502).
	CodeAgentBadResponse = "AGENT_BAD_RESPONSE"
	// CodeRegistryBusy is a hive registry write that waited out the busy
	// timeout for another writer's lock (HTTP 503, Retry-After: 1); the
	// request changed nothing and may be sent again.
	CodeRegistryBusy = "REGISTRY_BUSY"
	// CodeStandby is a request to a standby queen of an HA pair (HTTP 503);
	// the header [HeaderActiveQueen] names the active queen to ask instead.
	CodeStandby = "STANDBY"
)
