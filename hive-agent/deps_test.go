package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the agent small: it must not link the queen's
// packages or SQLite.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{"zombiezen.com/go/sqlite", "modernc.org/sqlite", "github.com/rbee-fleet/rbee/queen"}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range forbidden {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("hive-agent depends on %s", dep)
			}
		}
	}
}
