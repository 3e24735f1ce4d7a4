// Command hive-agent runs on each GPU box of an rbee fleet: it detects
// devices, spawns inference workers and relays their state to the queen.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/version"
)

// Exit codes (README: Using the queen).
const (
	exitFailure = 1
	exitUsage   = 2
)

type cli struct {
	Serve   serveCmd   `cmd:"" help:"Run the agent: serve its HTTP API and heartbeat to the queen."`
	Devices devicesCmd `cmd:"" help:"Print the CPU, the NVIDIA GPUs and the capabilities they give (--json for the API document)."`
	Version versionCmd `cmd:"" help:"Print the version of hive-agent."`
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("hive-agent", version.String())
	return nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run parses args, runs the command until it ends or a signal arrives, and
// returns the exit code. Errors are one line on stderr: what failed, then
// the next step.
func run(args []string) int {
	var c cli
	parser, err := kong.New(&c, kong.Name("hive-agent"),
		kong.Description("rbee hive agent: devices, workers, relay to the queen."))
	if err != nil {
		fmt.Fprintf(os.Stderr, "hive-agent: build the command line: %v; this is a bug, report it\n", err)
		return exitFailure
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hive-agent: %v; run `hive-agent --help`\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the default action is back: a second one ends
	// the agent at once.
	context.AfterFunc(ctx, stop)
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "hive-agent: %v\n", err)
		return exitFailure
	}
	return 0
}
