package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the reference worker small: the standard library,
// kong and the shared wire types, nothing else.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := []string{
		"github.com/alecthomas/kong",
		"github.com/rbee-fleet/rbee/shared/",
		"github.com/rbee-fleet/rbee/hive-agent/rbee-worker",
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, prefix := range allowed {
			ok = ok || strings.HasPrefix(dep, prefix)
		}
		if !ok {
			t.Errorf("rbee-worker depends on %s; it may use only the standard library, kong and shared/", dep)
		}
	}
}
