package install

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// start restarts the agent when its binary or config changed or it is not
// running; a running, unchanged agent is left alone.
func (j *job) start(ctx context.Context) error {
	if j.made == "" && !j.configChanged && j.oldPID != 0 {
		j.say(PhaseStart, "agent already running (pid %d)", j.oldPID)
		return j.forward(ctx)
	}
	if j.oldPID != 0 {
		j.say(PhaseStart, "🔄 restarting the agent (pid %d)", j.oldPID)
		if _, err := j.run(ctx, stopScript, j.node.InstallPath); err != nil {
			return fmt.Errorf("stop the old agent: %w", err)
		}
	} else {
		j.say(PhaseStart, "🚀 starting the agent")
	}
	return j.launch(ctx)
}

// launch starts the agent process and notes its pid, watched while the
// first heartbeat is awaited.
func (j *job) launch(ctx context.Context) error {
	if err := j.forward(ctx); err != nil {
		return err
	}
	j.startedAt = time.Now()
	out, err := j.run(ctx, startScript, j.node.InstallPath)
	if err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	fmt.Sscan(keyValues(out)["pid"], &j.launchedPID)
	j.restarted = true
	return nil
}

// forward makes sure the queen's remote forward waits on the node before
// an agent of the ssh transport starts and beats through it.
func (j *job) forward(ctx context.Context) error {
	if !j.sshTransport() || j.in.Forward == nil {
		return nil
	}
	if err := j.in.Forward(ctx, j.node, j.client); err != nil {
		return withHint(fmt.Sprintf("run `queen setup preflight --node %s`: the node's sshd must allow forwarding", j.node.NodeName),
			"set up the forward the agent reaches the queen by: %w", err)
	}
	return nil
}

// sshTransport reports whether the node's runtime traffic rides SSH.
func (j *job) sshTransport() bool {
	return j.node.Transport != api.TransportHTTP
}

// exitPoll is how often the started agent's process is checked while its
// first heartbeat is awaited: an agent that dies at once fails the start
// within about this long, with its log.
const exitPoll = 500 * time.Millisecond

// awaitHeartbeat waits for the started agent's first heartbeat at the
// queen, watching its process meanwhile.
func (j *job) awaitHeartbeat(ctx context.Context) error {
	if !j.restarted {
		return nil
	}
	timeout := j.in.HeartbeatTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	beat, err := j.beatOrExit(wctx)
	if err != nil {
		return j.startFailure(ctx, timeout, err)
	}
	j.beat, j.newPID = beat, beat.PID
	j.say(PhaseHeartbeat, "💓 agent %s (pid %d) is heartbeating", beat.AgentVersion, beat.PID)
	return nil
}

// errAgentExited is an agent process that ended before its first
// heartbeat.
var errAgentExited = errors.New("the agent exited right after it was started")

// beatOrExit returns the first heartbeat of the started agent, or
// errAgentExited as soon as its process is seen gone.
func (j *job) beatOrExit(ctx context.Context) (api.HeartbeatRequest, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		beat api.HeartbeatRequest
		err  error
	}
	done := make(chan result, 1)
	go func() {
		b, err := j.in.Heartbeats.Await(ctx, j.node.NodeName, j.startedAt, j.oldPID) // a beat from before the start is the old agent's
		done <- result{b, err}
	}()
	tick := time.NewTicker(exitPoll)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r.beat, r.err
		case <-tick.C:
			if j.launchedGone(ctx) {
				return api.HeartbeatRequest{}, errAgentExited
			}
		}
	}
}

// launchedGone reports whether the started agent's process is gone; a
// failed check says no, and the wait goes on.
func (j *job) launchedGone(ctx context.Context) bool {
	if j.launchedPID == 0 {
		return false
	}
	out, err := j.run(ctx, goneScript, strconv.Itoa(j.launchedPID))
	return err == nil && keyValues(out)["gone"] == "yes"
}

// startFailure explains a start without a heartbeat, with the agent's log
// tail and the next step that fits.
func (j *job) startFailure(ctx context.Context, timeout time.Duration, err error) error {
	tail, _ := j.run(context.WithoutCancel(ctx), logTailScript, j.node.InstallPath)
	tail = strings.TrimSpace(tail)
	log := j.node.InstallPath + "/logs/hive-agent.log"
	if errors.Is(err, errAgentExited) {
		return withHint(exitHint(tail, j.node.NodeName, log),
			"%v (pid %d); last lines of its log:\n%s", err, j.launchedPID, tail)
	}
	return withHint(fmt.Sprintf("check that the node reaches the queen at %s (set it with `queen serve --advertise-url`) "+
		"and read %s on the node", j.in.QueenURL, log),
		"no heartbeat from the agent within %v: %w; last lines of its log:\n%s", timeout, err, tail)
}

// exitHint is the next step for an agent that died at once, from what its
// log says.
func exitHint(tail, node, log string) string {
	low := strings.ToLower(tail)
	switch {
	case strings.Contains(low, "permission denied"), strings.Contains(low, "exec format"),
		strings.Contains(low, "no such file"), strings.Contains(low, "not found"):
		return fmt.Sprintf("the agent binary cannot run; run `queen setup install --node %s` to build or upload it again", node)
	case strings.Contains(low, "config"):
		return fmt.Sprintf("the agent refused its config; run `queen setup install --node %s` to write it again (read %s for the details)", node, log)
	case strings.Contains(low, "address already in use"):
		return fmt.Sprintf("the agent's port is taken on the node; pick another with `queen setup update-node --name %s --agent-port …` and install again", node)
	}
	return fmt.Sprintf("read %s on the node, fix the cause, then run `queen hive start --node %s`", log, node)
}

// record stores what was installed and marks the node online; it writes
// nothing when the registry holds that already (see recorded).
func (j *job) record(ctx context.Context) error {
	ep := j.client.Endpoint()
	agentURL := "http://" + net.JoinHostPort(ep.HostName, strconv.Itoa(j.node.AgentPort))
	if j.sshTransport() {
		agentURL = SSHEndpoints(j.node).AgentURL()
	}
	if j.recorded(agentURL) {
		j.say(PhaseRecord, "✅ up to date (%s)", short(j.installedCommit()))
		return nil
	}
	now := time.Now().Unix()
	_, err := j.in.Registry.Update(ctx, j.node.NodeName, func(n *api.Node) error {
		n.InstalledCommit, n.AgentURL = j.installedCommit(), agentURL
		if j.beat.AgentVersion != "" {
			n.AgentVersion = j.beat.AgentVersion
		}
		n.Status, n.LastConnectedUnix = api.StatusOnline, now
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the install: %w", err)
	}
	if j.upToDate() {
		j.say(PhaseRecord, "✅ up to date (%s)", short(j.installedCommit()))
	} else {
		j.say(PhaseRecord, "✅ installed %s", short(j.installedCommit()))
	}
	return nil
}

// recorded reports whether the registry already holds what record would
// write: an up-to-date install of an online node whose commit and agent
// URL are the ones stored. Then record writes nothing (registry writes are
// serialised, and a re-run of a large fleet would queue on them); the
// status stays the heartbeats' business, as it is for every node.
func (j *job) recorded(agentURL string) bool {
	return j.upToDate() && j.node.Status == api.StatusOnline && j.node.AgentURL == agentURL &&
		j.node.InstalledCommit == j.installedCommit() && j.beat.AgentVersion == ""
}

// installedCommit is the commit the installed agent was built from: the
// checkout's for a build, the binary's own for an upload when it names
// one (a binary stamped otherwise records the checkout's, with the
// warning checkUploaded gave).
func (j *job) installedCommit() string {
	if j.method == MethodUpload && isCommit(j.agentVersion) {
		return j.agentVersion
	}
	return j.commit
}

// isCommit reports whether v is a git commit name: 7–64 lowercase hex.
func isCommit(v string) bool {
	if len(v) < 7 || len(v) > 64 {
		return false
	}
	return strings.Trim(v, "0123456789abcdef") == ""
}
