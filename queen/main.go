// Command queen is the control plane of an rbee fleet: `queen serve` keeps
// the hive registry and the worker registry, and the other commands are its
// command-line client.
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

// Globals are the flags every queen command takes.
type Globals struct {
	QueenURL string `name:"queen-url" env:"RBEE_QUEEN_URL" default:"http://127.0.0.1:7833" help:"URL of the queen daemon."`
	Token    string `env:"RBEE_TOKEN" help:"Admin token (default: read from <data-dir>/admin.token)."`
	DataDir  string `name:"data-dir" env:"RBEE_HOME" default:"~/.rbee" type:"path" help:"Folder of the queen's registry and admin token."`
	JSON     bool   `help:"Machine output: one JSON document, or NDJSON events for streamed operations."`
}

type cli struct {
	Globals
	Serve   serveCmd   `cmd:"" help:"Run the queen daemon."`
	Setup   setupCmd   `cmd:"" help:"Register, check and remove hive nodes."`
	Hive    hiveCmd    `cmd:"" help:"Start, stop and check the hive agent of a node."`
	Workers workersCmd `cmd:"" help:"List, spawn and stop inference workers."`
	Version versionCmd `cmd:"" help:"Print the version of queen."`
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("queen", version.String())
	return nil
}

func main() {
	var c cli
	kctx := kong.Parse(&c, kong.Name("queen"),
		kong.Description("rbee fleet control plane."),
		kong.UsageOnError())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(&c.Globals)
	if err := kctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "queen:", err)
		if h := hintOf(err); h != "" {
			fmt.Fprintln(os.Stderr, "hint:", h)
		}
		os.Exit(1)
	}
}
