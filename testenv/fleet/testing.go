package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/testenv/require"
)

// New starts a fleet for a test and registers its Close with t.Cleanup. When
// a prerequisite is missing (sshd, root for netns mode, …) the test is
// skipped with one line naming it and the fix, or fails so under
// RBEE_REQUIRE_INTEGRATION=1 (see package require). When the test failed, the
// logs of every sshd and of the git daemon are printed before cleanup.
func New(t testing.TB, opts Options) *Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Fleets of test processes that died (a timeout, a kill) are removed
	// first, so they cannot pile up.
	if reaped, err := ReapStale(); err != nil {
		t.Logf("remove stale test fleets: %v", err)
	} else if len(reaped) > 0 {
		t.Logf("removed stale test fleets of dead processes: %v", reaped)
	}
	f, err := Start(ctx, opts)
	var missing *MissingError
	if errors.As(err, &missing) {
		require.Missing(t, missing.What, missing.Fix)
	}
	if err != nil {
		t.Fatalf("start test fleet: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("test fleet %s logs:\n%s", f.ID, f.Logs())
		}
		if err := f.Close(); err != nil {
			t.Errorf("close test fleet %s: %v", f.ID, err)
		}
	})
	return f
}
