// Package require is how a test says it needs something of the machine
// (sshd, git, nsenter, root, a free port 22): when it is missing the test
// is skipped on a developer's machine, and fails, naming the install
// command, when RBEE_REQUIRE_INTEGRATION=1, as CI (.ci/run) sets it, so a
// CI run can never pass by skipping its integration tests.
package require

import (
	"os"
	"os/exec"
	"testing"
)

// Env is the variable that turns a missing prerequisite into a failure.
const Env = "RBEE_REQUIRE_INTEGRATION"

// Strict reports whether a missing prerequisite fails the test
// (RBEE_REQUIRE_INTEGRATION=1).
func Strict() bool { return os.Getenv(Env) == "1" }

// Missing ends t because what is missing: skipped, or failed under Strict.
// fix says how to get it, e.g. "install it with: bash scripts/install-deps.sh".
func Missing(t testing.TB, what, fix string) {
	t.Helper()
	if Strict() {
		t.Fatalf("missing %s, and %s=1 does not allow skipping: %s", what, Env, fix)
	}
	t.Skipf("skipping: missing %s; %s (with %s=1 this fails)", what, fix, Env)
}

// Binary ends t as Missing does unless name is an executable on PATH (or
// at the absolute path name).
func Binary(t testing.TB, name, fix string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		Missing(t, name, fix)
	}
}
