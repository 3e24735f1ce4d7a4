package api

// PreflightReport is the result of POST /v1/hives/{name}/preflight (queen
// setup preflight): what the queen found on the node over one SSH connection.
type PreflightReport struct {
	// Node is the node checked.
	Node string `json:"node"`
	// SSHOK is true when the connection and authentication succeeded.
	SSHOK bool `json:"ssh_ok"`
	// CommandOK is true when `echo 'connection test'` answered as expected.
	CommandOK bool `json:"command_ok"`
	// ConnectMS is how long the TCP connect and SSH handshake took.
	ConnectMS int64 `json:"connect_ms"`
	// LatencyMS is the round trip of one trivial command on the open
	// connection, in milliseconds.
	LatencyMS int64 `json:"latency_ms"`
	// OS and Arch are `uname -s` and `uname -m` on the node.
	OS   string `json:"os"`
	Arch string `json:"arch"`
	// GitVersion is `git --version`, empty when git is missing.
	GitVersion string `json:"git_version,omitempty"`
	// GoVersion is `go version`, empty when go is missing.
	GoVersion string `json:"go_version,omitempty"`
	// InstallPath is the node's install path; DiskFreeBytes is the free space
	// on its file system (or on its nearest existing parent).
	InstallPath   string `json:"install_path"`
	DiskFreeBytes int64  `json:"disk_free_bytes"`
	// Problems lists what would stop an install, each with its fix; empty
	// when the node is ready.
	Problems []string `json:"problems,omitempty"`
}

// HiveList is the body of GET /v1/hives.
type HiveList struct {
	Nodes []Node `json:"nodes"`
}

// RemoveNodeResponse is the body of DELETE /v1/hives/{name}[?force=true].
type RemoveNodeResponse struct {
	Removed string `json:"removed"`
	// AgentPID is the pid of the agent that still heartbeated when the node
	// was removed with force (0: none); Warning then says it keeps running.
	AgentPID int    `json:"agent_pid,omitempty"`
	Warning  string `json:"warning,omitempty"`
}
