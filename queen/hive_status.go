package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// hiveStatusCmd is `queen hive status`.
type hiveStatusCmd struct {
	Node string `aliases:"name" required:"" placeholder:"NAME" help:"Name of the node whose agent to show."`
}

// errAgentUnhealthy is wrapped by the error of `queen hive status` for an
// agent that is not healthy, so the command exits 1.
var errAgentUnhealthy = errors.New("agent not healthy")

// Run prints the node's agent status, then fails (exit 1) unless the agent
// is healthy, with the reason and the next step.
func (c *hiveStatusCmd) Run(ctx context.Context, s *session) error {
	if err := checkNodeName("--node", c.Node); err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	st, err := q.HiveStatus(ctx, c.Node)
	if err != nil {
		return nodeNotFound(c.Node, s.explain(err))
	}
	if s.g.JSON {
		if err := writeJSON(s.stdout, st); err != nil {
			return err
		}
	} else {
		renderHiveStatus(s.stdout, st, time.Now())
	}
	return unhealthy(st)
}

// unhealthy returns nil for a healthy agent, else an error wrapping
// errAgentUnhealthy that says why, with the next step for its verdict.
func unhealthy(st api.HiveStatus) error {
	if st.Healthy {
		return nil
	}
	verdict := orDefault(st.Health, api.HealthUnreachable)
	reason := orDefault(st.HealthError, "no answer")
	install := "`queen setup install --node " + st.Node + "`"
	hints := map[string]string{
		api.HealthUnreachable: "start the agent with `queen hive start --node " + st.Node + "`, or install it with " + install,
		api.HealthIncompatible: "something other than this rbee's agent answers at " + orUnknown(st.AgentURL) +
			"; install the agent again with " + install,
		api.HealthDrift: "the running agent is not the one install put there; install again with " + install,
	}
	return &hintError{
		msg:  fmt.Sprintf("agent of %q is not healthy (%s): %s", st.Node, verdict, clean(reason)),
		err:  fmt.Errorf("%w: %s: %s", errAgentUnhealthy, verdict, reason),
		hint: orDefault(hints[verdict], hints[api.HealthUnreachable]),
	}
}
