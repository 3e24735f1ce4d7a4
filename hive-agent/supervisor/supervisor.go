package supervisor

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// DefaultStopGrace is how long a worker has between SIGTERM and SIGKILL.
const DefaultStopGrace = 10 * time.Second

// relayTimeout bounds one relay call made on behalf of a worker event.
const relayTimeout = 10 * time.Second

// Relay carries worker events to the queen; *relay.Relay implements it.
type Relay interface {
	Register(ctx context.Context, w api.Worker) error
	Update(ctx context.Context, u api.UpdateWorkerRequest, full api.Worker) error
	Remove(ctx context.Context, id string) error
}

// Config is what a Supervisor needs.
type Config struct {
	// Node is this node's name; it goes into every worker record.
	Node string
	// Backends are the command templates workers are started from.
	Backends []api.Backend
	// PortMin and PortMax bound the worker ports.
	PortMin, PortMax int
	// WorkerHost is the host of the worker URLs; "" means 127.0.0.1.
	WorkerHost string
	// CallbackURL is the agent's ready callback, as workers on this node
	// reach it.
	CallbackURL string
	// StateFile keeps the workers across agent restarts (0600).
	StateFile string
	// LogDir holds one output file per worker.
	LogDir string
	// Devices detects the node's devices; spawns of a GPU backend call it.
	Devices func(ctx context.Context) api.Devices
	// Relay gets every register, update and remove; nil relays nothing.
	Relay Relay
	// Log is the agent's logger.
	Log *slog.Logger
	// StopGrace is the time between SIGTERM and SIGKILL; 0 means
	// DefaultStopGrace.
	StopGrace time.Duration
}

// Supervisor owns the workers of one agent. It is safe for concurrent use.
type Supervisor struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	workers map[string]*proc
	ports   map[int]string // port → worker id, while the worker holds it
	closed  bool

	stateMu sync.Mutex // serialises state file writes
}

// New returns a Supervisor for cfg. Call Adopt before serving spawns.
func New(cfg Config) *Supervisor {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.WorkerHost == "" {
		cfg.WorkerHost = "127.0.0.1"
	}
	if cfg.Devices == nil {
		cfg.Devices = func(context.Context) api.Devices {
			return api.Devices{Capabilities: []string{api.BackendCPU}}
		}
	}
	return &Supervisor{cfg: cfg, log: cfg.Log, workers: map[string]*proc{}, ports: map[int]string{}}
}

// StopGrace is the time a worker gets between SIGTERM and SIGKILL.
func (s *Supervisor) StopGrace() time.Duration { return s.cfg.StopGrace }

// List returns the workers, ordered by id.
func (s *Supervisor) List() []api.Worker {
	s.mu.Lock()
	procs := make([]*proc, 0, len(s.workers))
	for _, p := range s.workers {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	out := make([]api.Worker, 0, len(procs))
	for _, p := range procs {
		out = append(out, p.record())
	}
	slices.SortFunc(out, func(a, b api.Worker) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Ready takes a worker's ready callback: token must be the worker's own.
// The worker becomes idle and the change is relayed before Ready returns.
func (s *Supervisor) Ready(ctx context.Context, token string, cb api.ReadyCallback) error {
	s.mu.Lock()
	p := s.workers[cb.ID]
	s.mu.Unlock()
	if p == nil {
		return notFound(cb.ID)
	}
	if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(p.token)) != 1 {
		return errorf(http.StatusUnauthorized, api.CodeUnauthorized,
			"a worker sends the token it got in "+api.WorkerTokenEnv, "wrong worker token for "+cb.ID)
	}
	if cb.SlotsTotal < 0 || cb.VRAMBytes < 0 {
		return errorf(http.StatusBadRequest, api.CodeInvalidField, "send slots_total ≥ 0 and vram_bytes ≥ 0",
			"invalid ready callback of "+cb.ID)
	}
	s.becomeReady(ctx, p, cb.SlotsTotal, cb.VRAMBytes)
	return nil
}

// becomeReady turns a loading worker idle, saves and relays the change and
// wakes its spawn. A second call does nothing.
func (s *Supervisor) becomeReady(ctx context.Context, p *proc, slots int, vram int64) {
	p.mu.Lock()
	if p.w.State != api.WorkerLoading {
		p.mu.Unlock()
		return
	}
	if slots <= 0 {
		slots = 1
	}
	p.w.State, p.w.SlotsTotal, p.w.SlotsAvailable, p.w.VRAMBytes = api.WorkerIdle, slots, slots, vram
	w := p.w
	p.mu.Unlock()
	s.save()
	s.log.Info("worker ready", "worker", w.ID, "url", w.URL, "model", w.ModelRef, "backend", w.Backend, "device", w.Device)
	if s.cfg.Relay != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relayTimeout)
		defer cancel()
		u := api.UpdateWorkerRequest{ID: w.ID, State: w.State, URL: w.URL,
			SlotsTotal: &w.SlotsTotal, SlotsAvailable: &w.SlotsAvailable, VRAMBytes: &w.VRAMBytes}
		if err := s.cfg.Relay.Update(ctx, u, w); err != nil {
			s.log.Warn("relay worker ready; the next heartbeat carries it", "worker", w.ID, "err", err)
		}
	}
	p.readyOnce.Do(func() { close(p.ready) })
}

// Stop ends worker id: SIGTERM to its process group, SIGKILL after the
// grace, and returns its last record once it is gone (relayed as removed).
func (s *Supervisor) Stop(ctx context.Context, id string) (api.Worker, error) {
	s.mu.Lock()
	p := s.workers[id]
	s.mu.Unlock()
	if p == nil {
		return api.Worker{}, notFound(id)
	}
	w := p.record()
	p.terminate(s.cfg.StopGrace, s.log)
	select {
	case <-p.gone:
	case <-ctx.Done():
		return w, ctx.Err()
	}
	w.State = api.WorkerStopping
	return w, nil
}

// StopAll stops every worker in parallel, each with the grace, and returns
// once all are gone and relayed; new spawns are refused from now on.
func (s *Supervisor) StopAll(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	procs := make([]*proc, 0, len(s.workers))
	for _, p := range s.workers {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	if len(procs) == 0 {
		return
	}
	s.log.Info(fmt.Sprintf("stopping %d workers", len(procs)), "grace", s.cfg.StopGrace)
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			p.terminate(s.cfg.StopGrace, s.log)
			select {
			case <-p.gone:
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
	s.log.Info("all workers stopped")
}

// exited is called once per worker when its process is gone: it forgets
// the worker, frees its port, saves the state and relays the removal.
func (s *Supervisor) exited(p *proc, code int) {
	w := p.record()
	s.mu.Lock()
	delete(s.workers, w.ID)
	if s.ports[p.port] == w.ID {
		delete(s.ports, p.port)
	}
	s.mu.Unlock()
	s.save()
	switch {
	case p.stopRequested():
		s.log.Info("worker stopped", "worker", w.ID, "pid", w.PID, "exit_code", code)
		_ = os.Remove(p.logPath)
	default:
		s.log.Warn("worker exited", "worker", w.ID, "pid", w.PID, "state", w.State, "exit_code", code,
			"log", p.logPath, "stderr_tail", tail(p.logPath, 10))
	}
	if s.cfg.Relay != nil {
		ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
		defer cancel()
		if err := s.cfg.Relay.Remove(ctx, w.ID); err != nil {
			s.log.Warn("relay worker removal; the next heartbeat carries it", "worker", w.ID, "err", err)
		}
	}
	p.exitCode = code
	close(p.gone)
}

// newID returns a fresh worker id.
func newID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "w-" + hex.EncodeToString(b)
}

// newToken returns a fresh callback token.
func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the last n lines of file, at most 4 KiB of it.
func tail(file string, n int) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	const limit = 4096
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-limit, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // cut mid-line
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logPath returns the output file of worker id.
func (s *Supervisor) logPath(id string) string {
	return filepath.Join(s.cfg.LogDir, id+".log")
}
