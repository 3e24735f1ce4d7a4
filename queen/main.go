// Command queen is the control plane of an rbee fleet: `queen serve` keeps
// the hive registry and the worker registry, and the other commands are its
// command-line client.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/version"
)

// Globals are the flags every queen command takes.
type Globals struct {
	QueenURL string `name:"queen-url" env:"RBEE_QUEEN_URL" default:"http://127.0.0.1:7833" help:"URL of the queen daemon; for an HA pair, the queens' URLs separated by commas (the CLI follows the active one)."`
	Token    string `env:"RBEE_TOKEN" help:"Admin token (default: read from <data-dir>/admin.token)."`
	DataDir  string `name:"data-dir" env:"RBEE_HOME" default:"~/.rbee" type:"path" help:"Folder of the queen's registry and admin token."`
	JSON     bool   `help:"Machine output: one JSON document, or NDJSON events for streamed operations."`
}

type cli struct {
	Globals
	Serve   serveCmd   `cmd:"" help:"Run the queen daemon."`
	Status  statusCmd  `cmd:"" help:"Show each queen's role (active or standby), lease epoch and lease age."`
	Setup   setupCmd   `cmd:"" help:"Register, check and remove hive nodes."`
	Hive    hiveCmd    `cmd:"" help:"Start, stop and check the hive agent of a node."`
	Workers workersCmd `cmd:"" help:"List, spawn and stop inference workers."`
	DB      dbCmd      `cmd:"" name:"db" help:"Back up the hive registry."`
	Keys    keysCmd    `cmd:"" help:"Create, list and revoke the gateway's client keys."`
	Chat    chatCmd    `cmd:"" help:"Ask a model through the gateway and stream the answer."`
	Version versionCmd `cmd:"" help:"Print the version of queen."`
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("queen", version.String())
	return nil
}

// Exit codes: 1 for a failed command, 2 for a command line that does not
// parse (a usage error) and for `install --check` when an install would
// change something.
const (
	exitFailure = 1
	exitUsage   = 2
	exitChanges = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// newParser builds the command line of c. Values may start with '-' (say
// --device -1), so a wrong value gets the rule it breaks, not a guess
// that it was a flag.
func newParser(c *cli, opts ...kong.Option) (*kong.Kong, error) {
	return kong.New(c, append([]kong.Option{kong.Name("queen"),
		kong.Description("rbee fleet control plane."),
		kong.WithHyphenPrefixedParameters(true)}, opts...)...)
}

// run parses args, runs the chosen command and returns the exit code. A
// usage error is one line and a pointer to the command's help, never the
// whole usage.
func run(args []string, stderr io.Writer) int {
	var c cli
	parser, err := newParser(&c)
	if err != nil {
		fmt.Fprintf(stderr, "queen: build the command line: %v; this is a bug, report it\n", err)
		return exitFailure
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "queen: %v\nsee '%s --help'\n", err, commandOf(err))
		return exitUsage
	}
	if kctx.Selected() != nil && kctx.Selected().Name == "serve" {
		setMemoryLimit()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(&c.Globals)
	if err := kctx.Run(); err != nil {
		if errors.Is(err, errChangesPending) {
			return exitChanges
		}
		fmt.Fprintln(stderr, "queen:", err)
		if h := hintOf(err); h != "" {
			fmt.Fprintln(stderr, "hint:", h)
		}
		return exitFailure
	}
	return 0
}

// commandOf names the command a parse error belongs to, as far as the
// parser got: "queen setup add-node", or "queen".
func commandOf(err error) string {
	if pe, ok := errors.AsType[*kong.ParseError](err); ok && pe.Context != nil {
		if n := pe.Context.Selected(); n != nil {
			return n.FullPath()
		}
	}
	return "queen"
}
