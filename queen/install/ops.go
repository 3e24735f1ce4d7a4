package install

import (
	"context"
	"fmt"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Stop stops the agent of node n over SSH (SIGTERM, up to 15 s, SIGKILL).
// The node's status is left to the heartbeat tracker, which marks it offline
// once the stale limit passes.
func (in *Installer) Stop(ctx context.Context, n api.Node, report Reporter) error {
	j := &job{in: in, node: n, report: report}
	defer j.close()
	_, err := runPhases(ctx, []phase{
		{PhaseConnect, j.connect},
		{"stop agent", func(ctx context.Context) error {
			out, err := j.run(ctx, stopScript, n.InstallPath)
			if err != nil {
				return fmt.Errorf("stop the agent: %w", err)
			}
			if pid := keyValues(out)["stopped"]; pid != "" {
				j.say("stop agent", "🛑 stopped the agent (pid %s)", pid)
			} else {
				j.say("stop agent", "no agent was running")
			}
			return nil
		}},
	}, report)
	return err
}

// Start starts the installed agent of node n if it is not running and waits
// for its first heartbeat.
func (in *Installer) Start(ctx context.Context, n api.Node, report Reporter) error {
	j := &job{in: in, node: n, report: report}
	defer j.close()
	_, err := runPhases(ctx, []phase{
		{PhaseConnect, j.connect},
		{PhaseStart, func(ctx context.Context) error {
			out, err := j.run(ctx, agentStateScript, n.InstallPath)
			if err != nil {
				return err
			}
			state := keyValues(out)
			if state["installed"] != "yes" {
				return withHint(fmt.Sprintf("install it with `queen setup install --node %s`", n.NodeName),
					"no agent is installed at %s", n.InstallPath)
			}
			fmt.Sscan(state["pid"], &j.oldPID)
			if j.oldPID != 0 {
				j.say(PhaseStart, "agent already running (pid %d)", j.oldPID)
				return nil
			}
			j.say(PhaseStart, "🚀 starting the agent")
			j.startedAt = time.Now()
			if _, err := j.run(ctx, startScript, n.InstallPath); err != nil {
				return fmt.Errorf("start the agent: %w", err)
			}
			j.restarted = true
			return nil
		}},
		{PhaseHeartbeat, j.awaitHeartbeat},
	}, report)
	if err == nil && j.restarted {
		now := time.Now()
		_ = in.Registry.SetStatus(ctx, n.NodeName, api.StatusOnline, &now)
	}
	return err
}

// Uninstall stops the agent and removes what install made; the checkout
// stays only with keepSource.
func (in *Installer) Uninstall(ctx context.Context, n api.Node, keepSource bool, report Reporter) error {
	j := &job{in: in, node: n, report: report}
	defer j.close()
	what := "all"
	if keepSource {
		what = "installed"
	}
	_, err := runPhases(ctx, []phase{
		{PhaseConnect, j.connect},
		{"stop agent", func(ctx context.Context) error {
			_, err := j.run(ctx, stopScript, n.InstallPath)
			return err
		}},
		{"remove files", func(ctx context.Context) error {
			if _, err := j.run(ctx, uninstallScript, n.InstallPath, what); err != nil {
				return err
			}
			j.say("remove files", "🧹 removed the agent from %s", n.InstallPath)
			return nil
		}},
		{PhaseRecord, func(ctx context.Context) error {
			_ = in.Registry.SetTokens(ctx, n.NodeName, "", "")
			now := time.Now()
			_, err := in.Registry.Update(ctx, n.NodeName, func(node *api.Node) error {
				node.InstalledCommit, node.AgentURL, node.AgentVersion = "", "", ""
				node.Status, node.LastConnectedUnix = api.StatusReachable, now.Unix()
				return nil
			})
			return err
		}},
	}, report)
	return err
}
