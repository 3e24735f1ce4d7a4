package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// workersStopCmd is `queen workers stop`.
type workersStopCmd struct {
	ID string `name:"id" required:"" placeholder:"ID" help:"ID of the worker to stop, as queen workers list shows it."`
}

// hintListWorkers is the next step after naming a worker that does not
// exist.
const hintListWorkers = "list the workers with `queen workers list`"

// Run asks the queen to stop the worker and waits until its process is
// gone.
func (c *workersStopCmd) Run(ctx context.Context, s *session) error {
	if err := api.ValidateWorkerID(c.ID); err != nil {
		return withHint(fmt.Errorf("check --id: %w", err), hintListWorkers)
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	w, err := q.StopWorker(ctx, c.ID)
	if err != nil {
		err = cancelled(ctx, s, "stop", "see whether the worker is gone with `queen workers list`", err)
		return workerNotFound(c.ID, s.explain(err))
	}
	if s.g.JSON {
		return writeJSON(s.stdout, w)
	}
	s.say("%s", stopResult(w))
	return nil
}

// errWorkerNotFound is wrapped by the error of a command naming an unknown
// worker.
var errWorkerNotFound = errors.New("worker not found")

// workerNotFound turns the queen's NOT_FOUND into `worker "W" not found`
// with the command that lists the workers; other errors pass unchanged.
func workerNotFound(id string, err error) error {
	if client.Code(err) != api.CodeNotFound {
		return err
	}
	return &hintError{
		msg:  fmt.Sprintf("worker %q not found", id),
		err:  fmt.Errorf("%w: %w", errWorkerNotFound, err),
		hint: hintListWorkers,
	}
}
