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
