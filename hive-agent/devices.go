package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/rbee-fleet/rbee/hive-agent/devices"
	"github.com/rbee-fleet/rbee/shared/api"
)

type devicesCmd struct {
	JSON bool `name:"json" help:"Print the JSON document GET /v1/devices serves instead of a table."`
}

// Run detects the devices and prints them to stdout, warnings to stderr.
// A node without GPUs is not an error.
func (c *devicesCmd) Run(ctx context.Context) error {
	// The warnings are printed below; a logger would print them twice.
	devs := devices.Detect(ctx, slog.New(slog.DiscardHandler))
	for _, w := range devs.Warnings {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(devs)
	}
	return printDevices(os.Stdout, devs)
}

// printDevices writes devs as a table for people.
func printDevices(w io.Writer, devs api.Devices) error {
	ram := "RAM unknown"
	if devs.CPU.RAMBytes > 0 {
		ram = gib(devs.CPU.RAMBytes) + " RAM"
	}
	cores := "cores"
	if devs.CPU.Cores == 1 {
		cores = "core"
	}
	fmt.Fprintf(w, "CPU: %d %s, %s\n", devs.CPU.Cores, cores, ram)
	if len(devs.GPUs) == 0 {
		fmt.Fprintln(w, "GPUs: none")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "GPU\tNAME\tTOTAL\tFREE")
		for _, g := range devs.GPUs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", g.Index, g.Name, gib(g.MemoryTotalByte), gib(g.MemoryFreeByte))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "capabilities: %s\n", strings.Join(devs.Capabilities, ", "))
	return err
}

// gib formats bytes in GiB with one decimal.
func gib(bytes int64) string {
	return fmt.Sprintf("%.1f GiB", float64(bytes)/(1<<30))
}
