package server

import (
	"fmt"
	"time"

	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
)

// stopWitness is what the queen knew of a node's agent before `hive stop`,
// and whether the stop had to kill it, for the stop's final message.
type stopWitness struct {
	pid     int // the heartbeating agent's pid; 0 when none heartbeated
	workers int // the node's workers in the worker registry
	killed  bool
}

// watch passes report's events on and notes a warning of a step after
// connect: the agent ignored SIGTERM and was killed.
func (sw *stopWitness) watch(report install.Reporter) install.Reporter {
	return func(level, phase, msg string, elapsed time.Duration) {
		if level == api.LevelWarn && phase != install.PhaseConnect {
			sw.killed = true
		}
		report(level, phase, msg, elapsed)
	}
}

// message is the stop's final line.
func (sw *stopWitness) message(node string) string {
	switch {
	case sw.pid == 0 && sw.workers == 0:
		return fmt.Sprintf("✅ done: no agent of %s was heartbeating", node)
	case sw.pid == 0:
		return fmt.Sprintf("✅ done: no agent of %s was heartbeating; its %d worker(s) were forgotten", node, sw.workers)
	case sw.killed:
		return fmt.Sprintf("⚠️ stopped the agent (pid %d) with SIGKILL; its %d worker(s) may still run: check with `ps` on the node",
			sw.pid, sw.workers)
	}
	return fmt.Sprintf("✅ stopped the agent (pid %d) and its %d worker(s)", sw.pid, sw.workers)
}
