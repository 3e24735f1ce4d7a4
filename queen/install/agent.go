package install

import (
	"context"
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
		return nil
	}
	if j.oldPID != 0 {
		j.say(PhaseStart, "🔄 restarting the agent (pid %d)", j.oldPID)
		if _, err := j.run(ctx, stopScript, j.node.InstallPath); err != nil {
			return fmt.Errorf("stop the old agent: %w", err)
		}
	} else {
		j.say(PhaseStart, "🚀 starting the agent")
	}
	j.startedAt = time.Now()
	if _, err := j.run(ctx, startScript, j.node.InstallPath); err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	j.restarted = true
	return nil
}

// awaitHeartbeat waits for the started agent's first heartbeat at the queen.
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
	beat, err := j.in.Heartbeats.Await(wctx, j.node.NodeName, j.startedAt, j.oldPID) // a beat from before the start is the old agent's
	if err != nil {
		tail, _ := j.run(context.WithoutCancel(ctx), logTailScript, j.node.InstallPath)
		return withHint(fmt.Sprintf("check that the node reaches the queen at %s (set it with `queen serve --advertise-url`) "+
			"and read %s/logs/hive-agent.log on the node", j.in.QueenURL, j.node.InstallPath),
			"no heartbeat from the agent within %v: %w; last lines of its log:\n%s", timeout, err, strings.TrimSpace(tail))
	}
	j.beat, j.newPID = beat, beat.PID
	j.say(PhaseHeartbeat, "💓 agent %s (pid %d) is heartbeating", beat.AgentVersion, beat.PID)
	return nil
}

// record stores what was installed and marks the node online.
func (j *job) record(ctx context.Context) error {
	ep := j.client.Endpoint()
	agentURL := "http://" + net.JoinHostPort(ep.HostName, strconv.Itoa(j.node.AgentPort))
	now := time.Now().Unix()
	_, err := j.in.Registry.Update(ctx, j.node.NodeName, func(n *api.Node) error {
		n.InstalledCommit, n.AgentURL = short(j.commit), agentURL
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
		j.say(PhaseRecord, "✅ up to date (%s)", short(j.commit))
	} else {
		j.say(PhaseRecord, "✅ installed %s", short(j.commit))
	}
	return nil
}
