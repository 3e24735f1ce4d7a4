// Command hive-agent runs on each GPU box of an rbee fleet: it detects
// devices, spawns inference workers and relays their state to the queen.
package main

import (
	"fmt"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/version"
)

type cli struct {
	Version versionCmd `cmd:"" help:"Print the version of hive-agent."`
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("hive-agent", version.String())
	return nil
}

func main() {
	var c cli
	ctx := kong.Parse(&c, kong.Name("hive-agent"),
		kong.Description("rbee hive agent: devices, workers, relay to the queen."),
		kong.UsageOnError())
	ctx.FatalIfErrorf(ctx.Run())
}
