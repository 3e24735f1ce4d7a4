package gateway

import (
	"slices"
	"testing"
	"time"
)

// TestMaintainVisitsDownAndSpawnedWorkers checks the once-a-second checks
// on the sets they walk instead of the whole table: a down mark ends after
// downFor or with a new process, the idle timeout stops only the workers
// the gateway spawned (all idle ones with manual), and a worker that left
// the registry leaves the sets too.
func TestMaintainVisitsDownAndSpawnedWorkers(t *testing.T) {
	tab, now := newTable(0), time.Now()
	ws := benchWorkers(4, 1)
	tab.rebuild(slices.Values(ws), now)
	down, restarted := tab.byID["w-0"], tab.byID["w-1"]
	tab.markDown(down, now)
	tab.markDown(restarted, now)
	ws[1].PID += 100
	tab.rebuild(slices.Values(ws), now)
	if restarted.down || len(tab.downs) != 1 {
		t.Fatalf("a new process stays down (%v) or in the down set (%d marks, want 1)", restarted.down, len(tab.downs))
	}
	tab.expireDown(now.Add(downFor / 2))
	if !down.down {
		t.Fatal("the down mark ended before downFor")
	}
	tab.expireDown(now.Add(2 * downFor))
	if down.down || len(tab.downs) != 0 || !down.free() {
		t.Fatalf("after downFor: down %v, %d marks left, free %v; want back in routing", down.down, len(tab.downs), down.free())
	}

	tab.adopt(ws[2], now)
	later := now.Add(time.Hour)
	if got := tab.idle(later, time.Minute, false); len(got) != 1 || got[0].id != "w-2" {
		t.Fatalf("idle without manual stops %v, want only the spawned w-2", upstreamIDs(got))
	}
	if got := tab.idle(later, time.Minute, true); len(got) != 3 {
		t.Fatalf("idle with manual stops %v, want the 3 others", upstreamIDs(got))
	}
	tab.rebuild(slices.Values(ws[3:]), later)
	if len(tab.spawned) != 0 || len(tab.byID) != 1 {
		t.Errorf("after the registry dropped them: %d spawned, %d workers left; want 0, 1", len(tab.spawned), len(tab.byID))
	}
}

func upstreamIDs(us []*upstream) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.id
	}
	return out
}
