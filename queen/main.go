// Command queen is the control plane of an rbee fleet: `queen serve` keeps
// the hive registry and the worker registry, and the other commands are its
// command-line client.
package main

import (
	"fmt"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/version"
)

type cli struct {
	Version versionCmd `cmd:"" help:"Print the version of queen."`
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("queen", version.String())
	return nil
}

func main() {
	var c cli
	ctx := kong.Parse(&c, kong.Name("queen"),
		kong.Description("rbee fleet control plane."),
		kong.UsageOnError())
	ctx.FatalIfErrorf(ctx.Run())
}
