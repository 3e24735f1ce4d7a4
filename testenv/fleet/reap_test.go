package fleet

import (
	"os"
	"slices"
	"testing"
)

// TestReapStale removes a fleet whose owner is gone and keeps one whose
// owner lives.
func TestReapStale(t *testing.T) {
	orphan := New(t, Options{Hosts: 1, Prefix: "orphan"})
	kept := New(t, Options{Hosts: 1, Prefix: "kept"})
	// The same pid with another start time: a recycled pid, not the owner.
	orphan.Owner = &Owner{PID: os.Getpid(), Start: "not-" + processStart(os.Getpid())}
	if err := orphan.save(); err != nil {
		t.Fatal(err)
	}
	reaped, err := ReapStale()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(reaped, orphan.ID) || slices.Contains(reaped, kept.ID) {
		t.Errorf("reaped %v; want %s and not %s", reaped, orphan.ID, kept.ID)
	}
	if orphan.Hosts[0].SSHD.Alive() {
		t.Errorf("sshd of the orphan fleet still runs")
	}
	if _, err := os.Stat(orphan.Dir); !os.IsNotExist(err) {
		t.Errorf("orphan fleet folder still there: %v", err)
	}
	if !kept.Hosts[0].SSHD.Alive() {
		t.Errorf("sshd of the live fleet was stopped")
	}
}
