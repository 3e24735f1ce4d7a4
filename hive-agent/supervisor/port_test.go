//go:build linux

package supervisor_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestSpawnSkipsPortInUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	holdPort(t, f.cfg.PortMin)
	w := f.spawn(t, "cpu")
	if got := port(t, w.URL); got != f.cfg.PortMin+1 {
		t.Errorf("worker got port %d, want %d (the first is taken)", got, f.cfg.PortMin+1)
	}
	// Seen before the start, not by a worker that failed to bind.
	if n := len(f.relay.registered()); n != 1 {
		t.Errorf("relay saw %d registers, want 1: %v", n, f.relay.all())
	}
}

// portTaker takes the port of a slow-start worker when it is registered,
// then lets the worker go on and bind it: the race of another program
// binding the port between the agent's check and the worker's bind.
type portTaker struct {
	t     *testing.T
	limit int    // how many ports to take
	goDir string // the fixture's goDir

	mu    sync.Mutex
	taken []int
	lns   []net.Listener
}

func (p *portTaker) onRegister(w api.Worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() {
		if err := os.WriteFile(filepath.Join(p.goDir, w.ID+".go"), nil, 0o600); err != nil {
			p.t.Errorf("let worker %s go: %v", w.ID, err)
		}
	}()
	if len(p.taken) == p.limit {
		return
	}
	n := port(p.t, w.URL)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(n))
	if err != nil {
		p.t.Errorf("take port %d of %s before the worker: %v", n, w.ID, err)
		return
	}
	p.taken = append(p.taken, n)
	p.lns = append(p.lns, ln)
}

func (p *portTaker) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ln := range p.lns {
		ln.Close()
	}
}

func TestSpawnRetriesPortTakenAfterCheck(t *testing.T) {
	t.Parallel()
	taker := &portTaker{t: t, limit: 1}
	t.Cleanup(taker.close)
	f := newFixture(t, options{onRegister: taker.onRegister})
	taker.goDir = f.goDir
	w := f.spawn(t, "slow-start")
	if got := port(t, w.URL); got != f.cfg.PortMin+1 {
		t.Errorf("worker got port %d, want %d (the first was taken after the check)", got, f.cfg.PortMin+1)
	}
	reg := f.relay.registered()
	if len(reg) != 2 || reg[1].ID != w.ID {
		t.Fatalf("relay saw %v, want the lost worker then %s", f.relay.all(), w.ID)
	}
	if got, want := f.relay.of(reg[0].ID), []string{"register(loading)", "remove"}; !slices.Equal(got, want) {
		t.Errorf("relay saw %q for the worker that lost its port, want %q", got, want)
	}
	if got, want := f.relay.of(w.ID), []string{"register(loading)", "update(idle)"}; !slices.Equal(got, want) {
		t.Errorf("relay saw %q, want %q", got, want)
	}
	if !processGone(reg[0].PID) {
		t.Errorf("worker that lost its port (pid %d) still runs", reg[0].PID)
	}
}

func TestSpawnGivesUpAfterPortAttempts(t *testing.T) {
	t.Parallel()
	taker := &portTaker{t: t, limit: 100}
	t.Cleanup(taker.close)
	f := newFixture(t, options{ports: 8, onRegister: taker.onRegister})
	taker.goDir = f.goDir
	_, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: "slow-start"})
	lo := f.cfg.PortMin
	wantSpawnError(t, err, http.StatusServiceUnavailable, api.CodeNoFreePort,
		fmt.Sprintf("workers could not bind any of the ports [%d %d %d %d %d]", lo, lo+1, lo+2, lo+3, lo+4))
	reg := f.relay.registered()
	if len(reg) != 5 {
		t.Fatalf("relay registered %d workers, want 5 attempts", len(reg))
	}
	for _, w := range reg {
		if !f.relay.removed(w.ID) || !processGone(w.PID) {
			t.Errorf("attempt %s (pid %d): relay %q, gone %v", w.ID, w.PID, f.relay.of(w.ID), processGone(w.PID))
		}
	}
}

func TestSpawnNoFreePort(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{ports: 2})
	lo, hi := f.cfg.PortMin, f.cfg.PortMax
	w1 := f.spawn(t, "cpu")
	if got := port(t, w1.URL); got != lo {
		t.Fatalf("first worker got port %d, want %d", got, lo)
	}

	release := holdPort(t, hi)
	_, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny"})
	wantSpawnError(t, err, http.StatusServiceUnavailable, api.CodeNoFreePort,
		fmt.Sprintf("no free port in %d–%d on node-1", lo, hi))
	if n := len(f.relay.registered()); n != 1 {
		t.Errorf("relay saw %d registers, want none for the refused spawn", n)
	}
	release()

	// A stopped worker's port is given again.
	stop(t, f, w1.ID)
	holdPort(t, hi)
	w2 := f.spawn(t, "cpu")
	if got := port(t, w2.URL); got != lo {
		t.Errorf("worker after the stop got port %d, want %d again", got, lo)
	}
}
