package require_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/testenv/require"
)

// helperEnv makes the test binary run TestHelperMissing for real: it calls
// require.Binary for a program no machine has.
const helperEnv = "RBEE_REQUIRE_TEST_HELPER"

func TestHelperMissing(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return // only in the child process of TestMissingSkipsOrFails
	}
	require.Binary(t, "rbee-no-such-program", "install it with: apt-get install rbee-no-such-program")
	t.Log("REACHED: the test went on without its prerequisite")
}

// TestMissingSkipsOrFails runs a test whose prerequisite is missing in a
// child test process: without RBEE_REQUIRE_INTEGRATION it is skipped, with
// it set to 1 it fails naming the install command, and it never goes on.
func TestMissingSkipsOrFails(t *testing.T) {
	tests := []struct {
		name, env string
		wantFail  bool
		wantOut   []string
	}{
		{"unset skips", "", false, []string{"--- SKIP: TestHelperMissing", "skipping: missing rbee-no-such-program"}},
		{"0 skips", "0", false, []string{"--- SKIP: TestHelperMissing"}},
		{"1 fails with the install command", "1", true, []string{"--- FAIL: TestHelperMissing",
			"missing rbee-no-such-program", "install it with: apt-get install rbee-no-such-program"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperMissing$", "-test.v")
			cmd.Env = append(os.Environ(), helperEnv+"=1", require.Env+"="+tt.env)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.wantFail {
				t.Errorf("child failed: %v (%v), want %v; output:\n%s", failed, err, tt.wantFail, out)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(string(out), "REACHED") {
				t.Errorf("the test went on without its prerequisite:\n%s", out)
			}
		})
	}
}

func TestBinaryPresent(t *testing.T) {
	t.Setenv(require.Env, "1")
	require.Binary(t, os.Args[0], "it is this test binary")
}
