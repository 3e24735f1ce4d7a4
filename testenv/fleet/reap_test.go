package fleet

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// TestReapStale removes a fleet whose owner is gone and keeps one whose
// owner lives and one that was detached (as `testenv up` does) from an
// owner that is gone.
func TestReapStale(t *testing.T) {
	orphan := New(t, Options{Hosts: 1, Prefix: "orphan"})
	kept := New(t, Options{Hosts: 1, Prefix: "kept"})
	detached := New(t, Options{Hosts: 1, Prefix: "detached"})
	// The same pid with another start time: a recycled pid, not the owner.
	gone := &Owner{PID: os.Getpid(), Start: "not-" + processStart(os.Getpid())}
	orphan.Owner, detached.Owner = gone, gone
	if err := errors.Join(orphan.save(), detached.save(), detached.Detach()); err != nil {
		t.Fatal(err)
	}
	reaped, err := ReapStale()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(reaped, orphan.ID) || slices.Contains(reaped, kept.ID) || slices.Contains(reaped, detached.ID) {
		t.Errorf("reaped %v; want %s and neither %s nor %s", reaped, orphan.ID, kept.ID, detached.ID)
	}
	if orphan.Hosts[0].SSHD.Alive() {
		t.Errorf("sshd of the orphan fleet still runs")
	}
	if _, err := os.Stat(orphan.Dir); !os.IsNotExist(err) {
		t.Errorf("orphan fleet folder still there: %v", err)
	}
	for _, f := range []*Fleet{kept, detached} {
		if !f.Hosts[0].SSHD.Alive() {
			t.Errorf("sshd of fleet %s (%s) was stopped", f.ID, f.Hosts[0].Name)
		}
	}
}
