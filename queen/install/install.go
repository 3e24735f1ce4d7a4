package install

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/shared/api"
)

// Registry is what install needs from the hive registry.
type Registry interface {
	Update(ctx context.Context, name string, fn func(*api.Node) error) (api.Node, error)
	SetStatus(ctx context.Context, name, status string, lastConnected *time.Time) error
	SetTokens(ctx context.Context, name, hiveTokenHash, agentToken string) error
	HiveTokenHash(ctx context.Context, name string) (string, error)
	AgentToken(ctx context.Context, name string) (string, error)
}

// Heartbeats is what install needs from the queen's heartbeat tracker.
type Heartbeats interface {
	// Await waits for a heartbeat of node that arrived after since from an
	// agent process other than notPID (0: any).
	Await(ctx context.Context, node string, since time.Time, notPID int) (api.HeartbeatRequest, error)
}

// Conns hands out the nodes' long-lived SSH connections (the queen's
// sshpool.Pool). A connection it gives belongs to it: install never closes
// it.
type Conns interface {
	Get(ctx context.Context, n api.Node, onAttempt func(attempt, total int, err error, next time.Duration)) (*provision.Client, error)
}

// Reporter receives progress: a phase's start (elapsed 0) and end lines.
type Reporter func(level, phase, msg string, elapsed time.Duration)

// Installer installs the agent on nodes. Its fields are its options.
type Installer struct {
	Registry   Registry
	Heartbeats Heartbeats
	Logger     *slog.Logger
	// QueenURL is the URL agents reach the queen at; it goes into their config.
	QueenURL string
	// PeerURLs are the other queens of an HA pair as agents reach them:
	// with any, an http transport agent's config lists QueenURL and them
	// in queen_urls, and the agent moves to the one that answers as
	// active. The ssh transport keeps its one URL, the queen's forward.
	PeerURLs []string
	// AgentBinary is the prebuilt linux hive-agent that upload sends.
	AgentBinary string
	// Retry is the SSH connect policy; the zero value is the README's (3 attempts, 200 then 400 ms apart).
	Retry provision.RetryPolicy
	// Dial are the SSH dial options (logger, handshake counter, keepalive).
	Dial provision.DialOptions
	// Conns, when set, gives every operation the node's pooled SSH
	// connection instead of a connection of its own (Retry and Dial are
	// then the pool's business).
	Conns Conns
	// Forward, when set, makes sure the queen's remote forward to itself
	// listens on the node (ssh transport): install and hive start call it
	// before they start the agent, with the operation's connection.
	Forward func(ctx context.Context, n api.Node, c *provision.Client) error
	// HeartbeatTimeout bounds the wait for a started agent's first
	// heartbeat; 0 means 60 s.
	HeartbeatTimeout time.Duration
	// Hashes, when set, remembers the hashes of the nodes' binaries
	// between installs, so a re-run hashes only a binary that changed.
	Hashes *HashCache
	// OnTokens, when set, is told right after a node's tokens changed in
	// the registry, so caches of the old ones are dropped at once.
	OnTokens func(node string)

	agentOnce  sync.Once // reads AgentBinary once for all nodes of an install
	agent      localAgent
	workerOnce sync.Once // reads the reference worker next to AgentBinary once
	worker     localAgent
}

// localAgent is a prebuilt binary that upload sends.
type localAgent struct {
	data   []byte
	sha256 string
	err    error
}

// Method names.
const (
	MethodBuild  = "build"
	MethodUpload = "upload"
	MethodAuto   = "auto"
)

// Phase titles, in order.
const (
	PhaseConnect   = "connect"
	PhaseProbe     = "probe"
	PhaseFetch     = "fetch source"
	PhaseBinary    = "get binary"
	PhaseConfig    = "write config"
	PhaseStart     = "start agent"
	PhaseHeartbeat = "wait for heartbeat"
	PhaseRecord    = "record"
)

// phase is one titled step of an install.
type phase struct {
	title string
	run   func(ctx context.Context) error
}

// Install runs every phase for node n with method (build, upload or auto)
// and returns the node's result; it never panics on a node's failure. It
// leaves the node's status to what is observed (heartbeats): a failed
// install is in its result, which the caller records, while an agent
// installed before may keep running.
func (in *Installer) Install(ctx context.Context, n api.Node, method string, report Reporter) api.InstallResult {
	start := time.Now()
	j := &job{in: in, node: n, method: method, report: report}
	defer j.close()
	res := api.InstallResult{Node: n.NodeName}
	failed, err := runPhases(ctx, j.phases(), report)
	res.DurationMS = time.Since(start).Milliseconds()
	res.Commit, res.Method, res.AgentPID = j.installedCommit(), j.made, j.newPID
	if err != nil {
		res.Result, res.Phase = api.ResultFailed, failed
		res.Error = &api.ErrorDetail{Code: api.CodeInstallFailed,
			Message: fmt.Sprintf("%s: %v", failed, err), Hint: hintFor(failed, err)}
		return res
	}
	res.Result = api.ResultInstalled
	if j.upToDate() {
		res.Result = api.ResultUpToDate
		res.AgentPID = j.oldPID
	}
	return res
}

// runPhases runs phases in order and returns the title of the one that
// failed with its error.
func runPhases(ctx context.Context, phases []phase, report Reporter) (string, error) {
	for _, p := range phases {
		if err := ctx.Err(); err != nil {
			return p.title, fmt.Errorf("cancelled: %w", err)
		}
		t := time.Now()
		if err := p.run(ctx); err != nil {
			return p.title, err
		}
		report(api.LevelInfo, p.title, p.title+" done", time.Since(t))
	}
	return "", nil
}

func hintFor(phase string, err error) string {
	if h := provision.Hint(err); h != "" {
		return h
	}
	if h, ok := errors.AsType[*hinted](err); ok {
		return h.hint
	}
	return fmt.Sprintf("fix the cause above and run `queen setup install` again; the phase %q is retried from the start", phase)
}

// hinted is an error with a next step for the user.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func withHint(hint string, format string, args ...any) error {
	return &hinted{err: fmt.Errorf(format, args...), hint: hint}
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
