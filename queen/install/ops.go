package install

import (
	"context"
	"fmt"
	"strings"
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
			j.sayStopped(keyValues(out))
			return nil
		}},
	}, report)
	return err
}

// sayStopped reports the stop script's answer: which agent stopped, and
// whether it had to be killed.
func (j *job) sayStopped(kv map[string]string) {
	pid := kv["stopped"]
	var tenths int
	fmt.Sscan(kv["waited"], &tenths)
	switch {
	case pid == "":
		j.say("stop agent", "no agent was running")
	case kv["killed"] == "yes":
		j.report(api.LevelWarn, "stop agent", fmt.Sprintf("🛑 the agent (pid %s) ignored SIGTERM for %.1f s and was killed (SIGKILL); its workers may still run: check with `ps` on the node",
			pid, float64(tenths)/10), 0)
	default:
		j.say("stop agent", "🛑 stopped the agent (pid %s) in %.1f s", pid, float64(tenths)/10)
	}
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
				return j.forward(ctx)
			}
			j.say(PhaseStart, "🚀 starting the agent")
			return j.launch(ctx)
		}},
		{PhaseHeartbeat, j.awaitHeartbeat},
	}, report)
	if err == nil && j.restarted {
		now := time.Now()
		_ = in.Registry.SetStatus(ctx, n.NodeName, api.StatusOnline, &now)
	}
	return err
}

// Uninstall stops the agent and removes exactly what install recorded in
// the node's manifest that it created; the checkout goes only when install
// cloned it, git sees nothing else in it, and keepSource is false. Without
// a manifest it refuses before touching anything. It reports what it kept.
func (in *Installer) Uninstall(ctx context.Context, n api.Node, keepSource bool, report Reporter) error {
	j := &job{in: in, node: n, report: report}
	defer j.close()
	var m manifest
	_, err := runPhases(ctx, []phase{
		{PhaseConnect, j.connect},
		{"read manifest", func(ctx context.Context) (err error) {
			m, err = j.readManifest(ctx)
			return err
		}},
		{"stop agent", func(ctx context.Context) error {
			_, err := j.run(ctx, stopScript, n.InstallPath)
			return err
		}},
		{"remove files", func(ctx context.Context) error { return j.removeInstalled(ctx, m, keepSource) }},
		{PhaseRecord, j.forgetInstall},
	}, report)
	return err
}

// readManifest reads the node's install manifest; a missing or foreign one
// is refused with the way forward.
func (j *job) readManifest(ctx context.Context) (manifest, error) {
	out, err := j.run(ctx, manifestScript, j.node.InstallPath)
	if err != nil {
		return manifest{}, fmt.Errorf("read the install manifest: %w", err)
	}
	data := keyValues(out)["manifest"]
	file := j.node.InstallPath + "/" + ManifestName
	if data == "" {
		return manifest{}, withHint(fmt.Sprintf("stop the agent with `queen hive stop --node %s` and remove by hand what you no longer need", j.node.NodeName),
			"no install manifest at %s: uninstall removes only what install recorded that it created, so it stopped nothing and removed nothing", file)
	}
	m, err := parseManifest(data)
	if err != nil {
		return manifest{}, withHint(fmt.Sprintf("look at %s; remove what you no longer need by hand", file),
			"the install manifest %s is not one this queen wrote (%v): nothing was stopped or removed", file, err)
	}
	return m, nil
}

// removeInstalled removes what m says install created and says what it
// kept.
func (j *job) removeInstalled(ctx context.Context, m manifest, keepSource bool) error {
	what := "all"
	if keepSource {
		what = "installed"
	}
	args := append([]string{j.node.InstallPath, what, yesNo(m.Cloned), yesNo(m.CreatedDir)}, m.removals()...)
	out, err := j.run(ctx, uninstallScript, args...)
	if err != nil {
		return fmt.Errorf("remove the installed files: %w", err)
	}
	j.sayRemoved(m, keepSource, keyValues(out))
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// sayRemoved reports the uninstall script's answer.
func (j *job) sayRemoved(m manifest, keepSource bool, kv map[string]string) {
	const phase = "remove files"
	p := j.node.InstallPath
	j.say(phase, "🧹 removed the agent from %s", p)
	switch {
	case kv["removed_checkout"] == "yes":
		j.say(phase, "removed the checkout install cloned")
	case kv["kept_checkout"] != "":
		j.report(api.LevelWarn, phase, fmt.Sprintf("kept the checkout: git sees files or changes in it that are not install's (%s); remove it by hand if you no longer need it",
			strings.TrimSuffix(kv["kept_checkout"], ";")), 0)
	case keepSource:
		j.say(phase, "kept the checkout (--keep-source)")
	case !m.Cloned:
		j.say(phase, "kept the checkout: install did not clone it")
	}
	if d := kv["kept_dir"]; d != "" {
		j.say(phase, "kept %s/%s: it holds files install did not write", p, d)
	}
	if k := strings.TrimSpace(kv["kept"]); k != "" && (kv["removed_checkout"] == "yes" || !m.Cloned) {
		j.say(phase, "kept in %s what install did not create: %s", p, k)
	}
}

// forgetInstall clears what the registry knows of the installed agent.
func (j *job) forgetInstall(ctx context.Context) error {
	_ = j.in.Registry.SetTokens(ctx, j.node.NodeName, "", "")
	now := time.Now()
	_, err := j.in.Registry.Update(ctx, j.node.NodeName, func(node *api.Node) error {
		node.InstalledCommit, node.AgentURL, node.AgentVersion = "", "", ""
		node.Status, node.LastConnectedUnix = api.StatusReachable, now.Unix()
		return nil
	})
	return err
}
