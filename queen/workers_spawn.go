package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// workersSpawnCmd is `queen workers spawn`.
type workersSpawnCmd struct {
	Node         string        `aliases:"name" required:"" placeholder:"NAME" help:"Node to start the worker on."`
	Model        string        `required:"" placeholder:"REF" help:"Model reference, e.g. hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF or /models/tiny.gguf."`
	Backend      string        `default:"cpu" help:"Backend to run the model on, e.g. cpu or cuda."`
	Device       *int          `placeholder:"N" help:"Device index of the backend, e.g. 1 for cuda:1 (default: the agent picks; for cuda the GPU with the most free memory)."`
	ReadyTimeout time.Duration `name:"ready-timeout" default:"5m" help:"How long the worker may take to load; it is killed after that."`
}

// Run asks the queen to start the worker and waits until it is ready. The
// queen holds the request that long; Ctrl-C cancels it.
func (c *workersSpawnCmd) Run(ctx context.Context, s *session) error {
	req, err := c.request()
	if err != nil {
		return err
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	if !s.g.JSON {
		s.say("spawning %s on %s (%s) …", clean(req.ModelRef), req.Node, spawnTarget(req))
	}
	start := time.Now()
	w, err := q.SpawnWorker(ctx, req)
	if err != nil {
		return spawnFailed(ctx, s, req, err)
	}
	if s.g.JSON {
		return writeJSON(s.stdout, w)
	}
	s.say("✅ worker %s ready at %s (%s)", clean(w.ID), orDash(w.URL), formatElapsed(time.Since(start).Milliseconds()))
	return nil
}

// request builds the spawn request from the flags and checks it.
func (c *workersSpawnCmd) request() (api.SpawnWorkerRequest, error) {
	if c.ReadyTimeout <= 0 {
		return api.SpawnWorkerRequest{}, withHint(
			fmt.Errorf("check --ready-timeout: invalid value %q: must be above 0", c.ReadyTimeout),
			"pass a duration like --ready-timeout 10m, or leave it out for 5m")
	}
	req := api.SpawnWorkerRequest{
		Node:     c.Node,
		ModelRef: c.Model,
		Backend:  c.Backend,
		Device:   c.Device,
		// At least 1: 0 would mean the queen's default.
		ReadyTimeoutMS: max(c.ReadyTimeout.Milliseconds(), 1),
	}
	if err := req.Validate(true); err != nil {
		return api.SpawnWorkerRequest{}, invalidWorkerFlag(err)
	}
	return req, nil
}

// spawnTarget describes where a spawn runs: "backend cpu" or
// "backend cuda, device 1".
func spawnTarget(req api.SpawnWorkerRequest) string {
	backend := req.Backend
	if backend == "" {
		backend = api.BackendCPU
	}
	if req.Device == nil {
		return "backend " + backend
	}
	return fmt.Sprintf("backend %s, device %d", backend, *req.Device)
}

// spawnFailed explains a failed spawn: cancelled by the user, not answered
// in time, unknown node, rejected token; the queen's other errors (and
// their hints) pass unchanged.
func spawnFailed(ctx context.Context, s *session, req api.SpawnWorkerRequest, err error) error {
	check := "see whether a worker was started with `queen workers list --node " + req.Node + "`"
	switch {
	case ctx.Err() != nil:
		return cancelled(ctx, s, "spawn", check, err)
	case errors.Is(err, context.DeadlineExceeded):
		return &hintError{
			msg:  fmt.Sprintf("no answer from the queen within %s", client.SpawnWait(req.ReadyTimeoutMS)),
			err:  err,
			hint: "the queen or the agent may be stuck; " + check,
		}
	case client.Code(err) == api.CodeNotFound:
		return nodeNotFound(req.Node, err)
	}
	return s.explain(err)
}
