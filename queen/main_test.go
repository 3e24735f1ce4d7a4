package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsageErrorsExit2 runs the command line as main does: a line that
// does not parse exits 2 with the error and a pointer to the command's
// help, not the whole usage.
func TestUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantLine string
		wantSee  string
	}{
		{name: "missing flags", args: []string{"setup", "add-node", "--name", "gpu-1"},
			wantLine: "queen: missing flags:", wantSee: "see 'queen setup add-node --help'"},
		{name: "unknown command", args: []string{"bogus"},
			wantLine: "queen: unexpected argument bogus", wantSee: "see 'queen --help'"},
		{name: "no subcommand", args: []string{"setup"},
			wantLine: "queen: expected one of", wantSee: "see 'queen setup --help'"},
		{name: "unknown flag", args: []string{"workers", "list", "--colour"},
			wantLine: "queen: unknown flag --colour", wantSee: "see 'queen workers list --help'"},
		{name: "page size out of range", args: []string{"workers", "list", "--limit", "6000"},
			wantLine: "queen: workers list: check --limit: 6000 is not a page size from 1 to 5000", wantSee: "see 'queen workers list --help'"},
		{name: "store of another kind", args: []string{"serve", "--store", "mysql://db/rbee"},
			wantLine: `queen: serve: --store "mysql://db/rbee": want sqlite:<path>`, wantSee: "see 'queen serve --help'"},
		{name: "peer url not http", args: []string{"serve", "--peer-url", "ftp://10.0.0.2"},
			wantLine: `queen: serve: --peer-url "ftp://10.0.0.2" is not an http:// or https:// URL`, wantSee: "see 'queen serve --help'"},
		{name: "lease time not above its poll", args: []string{"serve", "--lease-ttl", "1s", "--lease-poll", "1s"},
			wantLine: "queen: serve: --lease-ttl 1s must exceed --lease-poll 1s", wantSee: "see 'queen serve --help'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearQueenEnv(t)
			var stderr bytes.Buffer
			code := run(tt.args, &stderr)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != exitUsage || len(lines) != 2 || !strings.HasPrefix(lines[0], tt.wantLine) || lines[1] != tt.wantSee {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2, %q… then %q", code, stderr.String(), tt.wantLine, tt.wantSee)
			}
		})
	}
}

// TestNegativeValueIsNotTakenForAFlag: --device -1 reaches the value's
// own rule instead of kong's guess that -1 is a flag.
func TestNegativeValueIsNotTakenForAFlag(t *testing.T) {
	clearQueenEnv(t)
	var stderr bytes.Buffer
	run([]string{"workers", "spawn", "--node", "gpu-1", "--model", "m", "--device", "-1"}, &stderr)
	if out := stderr.String(); strings.Contains(out, "perhaps try") || !strings.Contains(out, "--device") ||
		!strings.Contains(out, "must be") {
		t.Errorf("stderr:\n%s\nwant the rule --device breaks", out)
	}
}

// TestNodeFlagSpellings: --name and --node name a node in every command.
func TestNodeFlagSpellings(t *testing.T) {
	tests := []struct {
		args []string
		got  func(c *cli) string
	}{
		{[]string{"setup", "remove-node", "--node", "gpu-1"}, func(c *cli) string { return c.Setup.RemoveNode.Name }},
		{[]string{"setup", "update-node", "--node", "gpu-1", "--ssh-port", "2222"}, func(c *cli) string { return c.Setup.UpdateNode.Name }},
		{[]string{"hive", "stop", "--name", "gpu-1"}, func(c *cli) string { return c.Hive.Stop.Node }},
		{[]string{"setup", "preflight", "--name", "gpu-1"}, func(c *cli) string { return c.Setup.Preflight.Node }},
		{[]string{"workers", "spawn", "--name", "gpu-1", "--model", "m"}, func(c *cli) string { return c.Workers.Spawn.Node }},
		{[]string{"setup", "install", "--name", "gpu-1"}, func(c *cli) string { return strings.Join(c.Setup.Install.Node, ",") }},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var c cli
			parser, err := newParser(&c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parser.Parse(tt.args); err != nil || tt.got(&c) != "gpu-1" {
				t.Errorf("parse: %v, node %q; want gpu-1", err, tt.got(&c))
			}
		})
	}
}
