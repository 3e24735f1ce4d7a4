package main

import (
	"fmt"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/api"
)

// workersCmd groups the commands that list, spawn and stop inference
// workers. Like the setup commands, they are clients of a running queen
// (`queen serve`), which forwards spawn and stop to the node's agent.
type workersCmd struct {
	List    workersListCmd    `cmd:"" help:"List the workers the queen knows, optionally filtered."`
	Spawn   workersSpawnCmd   `cmd:"" help:"Start a worker on a node and wait until it is ready."`
	Stop    workersStopCmd    `cmd:"" help:"Stop a worker and wait until its process is gone."`
	Forward workersForwardCmd `cmd:"" help:"Serve a local port that forwards to a worker's port through the queen (like kubectl port-forward)."`
}

// ProvideSession gives the workers commands' Run methods the same *session
// as the setup commands get.
func (*workersCmd) ProvideSession(g *Globals, kctx *kong.Context) *session {
	return (*setupCmd).ProvideSession(nil, g, kctx)
}

// flagOfWorkerField maps the fields of the worker filter and requests to
// the flags of the workers commands that set them.
var flagOfWorkerField = map[string]string{
	"node":             "--node",
	"model":            "--model",
	"model_ref":        "--model",
	"capability":       "--capability",
	"state":            "--state",
	"backend":          "--backend",
	"device":           "--device",
	"ready_timeout_ms": "--ready-timeout",
	"worker_id":        "--id",
}

// invalidWorkerFlag turns a validation error of shared/api into
// "check <flag>: <field error>" with a hint naming the flag to fix.
func invalidWorkerFlag(err error) error {
	flag := "the flags"
	if fe, ok := api.AsFieldError(err); ok {
		if f, ok := flagOfWorkerField[fe.Field]; ok {
			flag = f
		}
	}
	return withHint(fmt.Errorf("check %s: %w", flag, err), "fix "+flag+" and run the command again")
}
