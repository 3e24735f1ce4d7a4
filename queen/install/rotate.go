package install

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/shared/api"
)

// PhaseRotate is the title of the token rotation phase.
const PhaseRotate = "rotate tokens"

// RotateTokens gives the agent of node n a fresh hive token and a fresh
// agent token without restarting it or its workers: it writes them into
// the node's config (0600, atomically), records them, sends the agent
// SIGHUP to reload them, and waits for a heartbeat the queen accepted
// with the new hive token. The old tokens are refused from then on.
func (in *Installer) RotateTokens(ctx context.Context, n api.Node, report Reporter) error {
	j := &job{in: in, node: n, report: report}
	defer j.close()
	_, err := runPhases(ctx, []phase{
		{PhaseConnect, j.connect},
		{PhaseRotate, j.rotate},
		{PhaseHeartbeat, j.awaitHeartbeat},
	}, report)
	return err
}

// rotate writes and records new tokens and signals the running agent.
func (j *job) rotate(ctx context.Context) error {
	out, err := j.run(ctx, agentStateScript, j.node.InstallPath)
	if err != nil {
		return fmt.Errorf("look for the agent: %w", err)
	}
	fmt.Sscan(keyValues(out)["pid"], &j.oldPID)
	if j.oldPID == 0 {
		return withHint(fmt.Sprintf("start it with `queen hive start --node %s`, then rotate again", j.node.NodeName),
			"the agent of %s is not running: a rotation needs it to reload its tokens", j.node.NodeName)
	}
	file := path.Join(j.node.InstallPath, ConfigName)
	cfg, err := j.readConfig(file)
	if err != nil {
		return withHint(fmt.Sprintf("write a new config with `queen setup install --node %s`", j.node.NodeName),
			"read %s: %w", file, err)
	}
	if err := j.writeTokens(ctx, file, cfg); err != nil {
		return err
	}
	return j.reload(ctx)
}

// writeTokens puts fresh tokens into cfg, writes it to file and records
// them at the queen.
func (j *job) writeTokens(ctx context.Context, file string, cfg api.AgentConfig) error {
	token, hash := MintToken()
	agentToken, agentHash := MintToken()
	cfg.HiveToken, cfg.QueenTokenSHA256 = token, agentHash
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := j.client.WriteFileAtomic(ctx, file, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := j.in.Registry.SetTokens(ctx, j.node.NodeName, hash, agentToken); err != nil {
		return fmt.Errorf("record the new tokens (the node has them already; rotate again): %w", err)
	}
	if j.in.OnTokens != nil {
		j.in.OnTokens(j.node.NodeName)
	}
	j.say(PhaseRotate, "🔑 wrote new tokens into %s", file)
	return nil
}

// reload sends the agent SIGHUP; the next heartbeat after it must carry
// the new hive token (the queen refuses the old one).
func (j *job) reload(ctx context.Context) error {
	j.startedAt = time.Now()
	if _, err := j.client.Run(ctx, provision.Command("kill", "-HUP", strconv.Itoa(j.oldPID))); err != nil {
		return fmt.Errorf("signal the agent (pid %d) to reload: %w", j.oldPID, err)
	}
	j.say(PhaseRotate, "sent SIGHUP to the agent (pid %d)", j.oldPID)
	// The same process must beat again: awaitHeartbeat waits for a beat
	// after startedAt from any pid, and no process is watched for exit.
	j.restarted, j.oldPID = true, 0
	return nil
}
