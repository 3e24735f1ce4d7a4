package supervisor

import (
	"cmp"
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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// DefaultStopGrace is how long a worker has between SIGTERM and SIGKILL.
const DefaultStopGrace = 10 * time.Second

// Defaults of the health checks and restarts.
const (
	// DefaultHealthInterval is how often a ready worker's health is checked.
	DefaultHealthInterval = 5 * time.Second
	// DefaultHealthTimeout bounds one health check.
	DefaultHealthTimeout = 2 * time.Second
	// DefaultRestartBackoff is the wait before a worker's first restart
	// within the restart window; each further one waits twice as long as
	// the one before, at most maxRestartBackoff.
	DefaultRestartBackoff = time.Second
	// RestartWindow is the time within which a backend's max_restarts
	// bounds the restarts of one worker.
	RestartWindow = 10 * time.Minute
)

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
	// InstallPath is the agent's install path: a missing backend command
	// under it (bin/rbee-worker) is put back by the install.
	InstallPath string
	// Devices detects the node's devices; spawns of a GPU backend call it.
	Devices func(ctx context.Context) api.Devices
	// Relay gets every register, update and remove; nil relays nothing.
	Relay Relay
	// Log is the agent's logger.
	Log *slog.Logger
	// StopGrace is the time between SIGTERM and SIGKILL; 0 means
	// DefaultStopGrace.
	StopGrace time.Duration
	// HealthInterval is how often each ready worker's health is checked;
	// 0 means DefaultHealthInterval.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check; 0 means DefaultHealthTimeout.
	HealthTimeout time.Duration
	// RestartBackoff is the wait before a worker's first restart in the
	// restart window; 0 means DefaultRestartBackoff.
	RestartBackoff time.Duration
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
	cfg.StopGrace = cmp.Or(max(cfg.StopGrace, 0), DefaultStopGrace)
	cfg.HealthInterval = cmp.Or(max(cfg.HealthInterval, 0), DefaultHealthInterval)
	cfg.HealthTimeout = cmp.Or(max(cfg.HealthTimeout, 0), DefaultHealthTimeout)
	cfg.RestartBackoff = cmp.Or(max(cfg.RestartBackoff, 0), DefaultRestartBackoff)
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

// Ready takes a worker's ready callback. The token is checked first: a
// missing or wrong one (or one for an unknown id) is refused with 401, so
// that worker ids cannot be probed. Then the callback must match the spawn
// (model_ref, backend, device) and carry the worker's URL, else 400 naming
// the field and the worker stays loading. The worker becomes idle and the
// change is relayed before Ready returns.
func (s *Supervisor) Ready(ctx context.Context, token string, cb api.ReadyCallback) error {
	p := s.lookup(cb.ID)
	if !validToken(p, token) {
		return errorf(http.StatusUnauthorized, api.CodeUnauthorized,
			"a worker sends the token it got in "+api.WorkerTokenEnv+" with the --worker-id it was started with",
			"missing or wrong worker token for the ready callback")
	}
	if err := checkCallback(p.record(), cb); err != nil {
		return err
	}
	s.becomeReady(ctx, p, cb.SlotsTotal, cb.VRAMBytes)
	return nil
}

// validToken reports whether token is the callback token of p; a nil p
// (unknown worker) is compared against nothing and refused.
func validToken(p *proc, token string) bool {
	want := ""
	if p != nil {
		want = p.token
	}
	return token != "" && want != "" && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

// checkCallback checks a ready callback against the worker w it is for:
// the same model, backend and device as the spawn, the worker's URL, and
// slots and VRAM in range.
func checkCallback(w api.Worker, cb api.ReadyCallback) error {
	const rule = "must be what the agent started the worker with"
	var err error
	switch {
	case cb.ModelRef != w.ModelRef:
		err = &api.FieldError{Field: "model_ref", Value: cb.ModelRef, Rule: rule + " (--model-ref)"}
	case cb.Backend != w.Backend:
		err = &api.FieldError{Field: "backend", Value: cb.Backend, Rule: rule + " (--backend)"}
	case cb.Device != w.Device:
		err = &api.FieldError{Field: "device", Value: strconv.Itoa(cb.Device), Rule: rule + " (--device)"}
	default:
		err = cb.Validate()
	}
	if err != nil {
		return errorf(http.StatusBadRequest, api.CodeInvalidField,
			"send the --model-ref, --backend and --device the agent started you with, and your URL",
			"ready callback of "+w.ID+": "+err.Error())
	}
	return nil
}

// becomeReady turns a loading worker idle, saves and relays the change and
// wakes its spawn. A second call does nothing.
func (s *Supervisor) becomeReady(ctx context.Context, p *proc, slots int, vram int64) {
	select { // the queen hears of the worker before it hears it is ready
	case <-p.registered:
	case <-time.After(relayTimeout):
	}
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
	s.log.Info("worker ready", "worker", w.ID, "url", w.URL, "model", w.ModelRef, "backend", w.Backend,
		"device", w.Device, "restarts", w.Restarts)
	s.relayUpdate(ctx, w)
	p.readyOnce.Do(func() { close(p.ready) })
	go s.watchHealth(p)
}

// relayUpdate relays w's state, URL, slots, VRAM and exit code.
func (s *Supervisor) relayUpdate(ctx context.Context, w api.Worker) {
	if s.cfg.Relay == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relayTimeout)
	defer cancel()
	u := api.UpdateWorkerRequest{ID: w.ID, State: w.State, URL: w.URL, ExitCode: w.ExitCode,
		SlotsTotal: &w.SlotsTotal, SlotsAvailable: &w.SlotsAvailable, VRAMBytes: &w.VRAMBytes}
	if err := s.cfg.Relay.Update(ctx, u, w); err != nil {
		s.log.Warn("relay worker "+w.State+"; the next heartbeat carries it", "worker", w.ID, "err", err)
	}
}

// relayRegister relays w as a new or restarted worker.
func (s *Supervisor) relayRegister(ctx context.Context, w api.Worker) {
	if s.cfg.Relay == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relayTimeout)
	defer cancel()
	if err := s.cfg.Relay.Register(ctx, w); err != nil {
		s.log.Warn("relay worker; the next heartbeat carries it", "worker", w.ID, "state", w.State, "err", err)
	}
}

// relayRemove relays that worker id is gone.
func (s *Supervisor) relayRemove(id string) {
	if s.cfg.Relay == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
	defer cancel()
	if err := s.cfg.Relay.Remove(ctx, id); err != nil {
		s.log.Warn("relay worker removal; the next heartbeat carries it", "worker", id, "err", err)
	}
}

// Stop ends worker id: SIGTERM to its process group, SIGKILL after the
// grace, and returns its last record once it is gone (relayed as removed),
// with StopMS, and Killed when it ignored SIGTERM. A failed worker, whose
// process is gone already, is only forgotten; a worker restarted while it
// was being stopped is stopped too.
func (s *Supervisor) Stop(ctx context.Context, id string) (api.Worker, error) {
	p := s.lookup(id)
	if p == nil {
		return api.Worker{}, notFound(id)
	}
	w := p.record()
	start := time.Now()
	for p != nil {
		p.terminate(s.cfg.StopGrace, s.log)
		select {
		case <-p.gone:
		case <-ctx.Done():
			return w, ctx.Err()
		}
		w.Killed = w.Killed || p.wasKilledAfterGrace()
		p = s.afterStop(id, p)
	}
	w.StopMS = time.Since(start).Milliseconds()
	if w.State != api.WorkerFailed {
		w.State = api.WorkerStopping
	}
	return w, nil
}

// lookup returns worker id, or nil.
func (s *Supervisor) lookup(id string) *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workers[id]
}

// afterStop is called once the stopped proc p of worker id is gone: it
// forgets p when it is still listed (it had failed), and returns the proc
// that replaced it meanwhile (a restart), or nil.
func (s *Supervisor) afterStop(id string, p *proc) *proc {
	s.mu.Lock()
	cur := s.workers[id]
	if cur == p {
		delete(s.workers, id)
	}
	s.mu.Unlock()
	if cur != p {
		return cur
	}
	s.log.Info("failed worker removed", "worker", id)
	s.relayRemove(id)
	return nil
}

// StopAll stops every worker in parallel, each with the grace, and returns
// once all are gone and relayed; new spawns and restarts are refused from
// now on.
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
			for p != nil {
				p.terminate(s.cfg.StopGrace, s.log)
				select {
				case <-p.gone:
				case <-ctx.Done():
					return
				}
				p = s.afterStop(p.record().ID, p)
			}
		})
	}
	wg.Wait()
	s.log.Info("all workers stopped")
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
