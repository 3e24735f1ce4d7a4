package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/queen/loadgen"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// TestFleetConvergesAcrossRestart drives 10,000 simulated hives × 16
// workers (1,000 with -short or -race) over real HTTP against a queen on
// loopback: every tenth hive an old agent (whole list, no seq), the rest
// delta agents that act as if 5 % of the queen's answers were lost; half
// the hives change a worker (slots, state, a new one, a removed one) and
// relay it as an event before each beat; the queen restarts (a fresh
// worker registry on the same hive registry) after the second round. At the end
// the queen lists exactly the fleet's truth: every worker, every field, no
// ghost, no duplicate.
func TestFleetConvergesAcrossRestart(t *testing.T) {
	hives, workers := 10_000, 16
	if testing.Short() || raceEnabled {
		hives = 1_000
	}
	reg := openFleetRegistry(t)
	fleetHives := registerFleet(t, reg, "fl", hives)
	q := startFleetQueen(t, reg)
	f, err := loadgen.NewFleet(loadgen.FleetConfig{BaseURL: q.url, Hives: fleetHives, WorkersPerHive: workers,
		OldEvery: 10, Concurrency: 32, LoseAnswers: 0.05, Seed: 14})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	churn := loadgen.Churn{Share: 0.5, Events: true}

	round(t, f, "first beats", loadgen.Churn{})
	if deltas := round(t, f, "churn", churn).Deltas; deltas == 0 {
		t.Errorf("no delta beats before the restart; the fleet never got an acknowledgement")
	}

	q.stop()
	q = startFleetQueen(t, reg)
	f.SetBaseURL(q.url)
	if rs := round(t, f, "churn after the restart", churn); rs.NeedSnapshot == 0 {
		t.Errorf("no need_snapshot after the restart: %v", rs)
	}
	round(t, f, "churn", churn)
	for i := 0; !f.Settled(); i++ {
		if i == 4 {
			t.Fatalf("the fleet did not settle in 4 rounds without changes")
		}
		round(t, f, "settle", loadgen.Churn{})
	}
	listed, err := loadgen.ListWorkers(t.Context(), q.url, token, "")
	if err != nil {
		t.Fatal(err)
	}
	truth := f.Truth()
	if diff := loadgen.Diff(truth, listed, 10); len(diff) > 0 {
		t.Errorf("the queen lists %d workers, the fleet holds %d; first differences:\n%v", len(listed), len(truth), diff)
	}
}

// round runs one unpaced round of f: see scaleRound.
func round(t *testing.T, f *loadgen.Fleet, what string, ch loadgen.Churn) loadgen.RoundStats {
	t.Helper()
	return scaleRound(t, f, 0, ch, what)
}

// fleetQueen is an in-process queen on loopback that can be stopped, as a
// restart does.
type fleetQueen struct {
	url  string
	stop func()
}

func startFleetQueen(t *testing.T, reg *hiveregistry.Registry) *fleetQueen {
	t.Helper()
	srv := server.New(server.Config{Registry: reg, Token: token, Logger: slog.New(slog.DiscardHandler),
		HeartbeatInterval: 5 * time.Second, StaleAfter: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	ts := httptest.NewServer(srv.Handler())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			ts.Close()
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return &fleetQueen{url: ts.URL, stop: stop}
}

// registerFleet adds n online nodes named <prefix>-NNNNN with fresh hive
// tokens, in one go, and returns them as loadgen hives.
func registerFleet(t testing.TB, reg *hiveregistry.Registry, prefix string, n int) []loadgen.Hive {
	t.Helper()
	start := time.Now()
	hives := make([]loadgen.Hive, n)
	for i := range hives {
		name := fmt.Sprintf("%s-%05d", prefix, i)
		err := reg.Add(t.Context(), api.Node{
			NodeName: name, SSHHost: fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff+1), SSHPort: 22,
			GitRepoURL: "file:///srv/git/rbee.git", GitBranch: "main", InstallPath: "/opt/rbee",
			AgentPort: api.DefaultAgentPort, Status: api.StatusOnline, Transport: api.TransportHTTP,
		})
		if err != nil {
			t.Fatal(err)
		}
		tok, hash := install.MintToken()
		agentTok, _ := install.MintToken()
		if err := reg.SetTokens(t.Context(), name, hash, agentTok); err != nil {
			t.Fatal(err)
		}
		hives[i] = loadgen.Hive{Name: name, Token: tok}
	}
	t.Logf("registered %d hives in %v", n, time.Since(start).Round(time.Millisecond))
	return hives
}

// openFleetRegistry opens a hive registry on tmpfs (/dev/shm) when there is
// one, else in t.TempDir(): its synchronous=FULL commits cost a disk flush
// each, and a fleet registers thousands of hives.
func openFleetRegistry(t testing.TB) *hiveregistry.Registry {
	t.Helper()
	dir := t.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "rbee-fleet-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		dir = shm
	}
	reg, err := hiveregistry.Open(t.Context(), filepath.Join(dir, "beehives.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}
