package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// maxRestartBackoff bounds the wait before a restart.
const maxRestartBackoff = time.Minute

// restart replaces p, which ended on its own for reason, by a successor
// with the same id that starts after a backoff, and logs it. It returns ""
// when it did, else why not.
func (s *Supervisor) restart(p *proc, reason string) (whyNot string) {
	w := p.record()
	b, ok := s.configured(w.Backend)
	switch {
	case !ok:
		return "backend " + w.Backend + " is no longer configured"
	case b.RestartPolicy() == api.RestartNever:
		return "restart policy of backend " + b.Name + " is never"
	}
	now := time.Now()
	recent := withinWindow(p.restartTimes, now)
	if len(recent) >= b.RestartLimit() {
		return fmt.Sprintf("restart limit reached: %d restarts within %s (max_restarts of backend %s)",
			len(recent), RestartWindow, b.Name)
	}
	next := p.successor(now, recent)
	if !s.swap(p, next) {
		return "the worker is being stopped"
	}
	delay := min(s.cfg.RestartBackoff<<len(recent), maxRestartBackoff)
	s.log.Warn("worker failed; restarting it", "worker", w.ID, "pid", w.PID, "reason", reason,
		"restart", next.record().Restarts, "backoff", delay, "log", p.logPath, "stderr_tail", tail(p.logPath, 10))
	go s.restartAfter(next, b, delay)
	return ""
}

// withinWindow returns the times of ts after now minus RestartWindow.
func withinWindow(ts []time.Time, now time.Time) []time.Time {
	var out []time.Time
	for _, t := range ts {
		if now.Sub(t) < RestartWindow {
			out = append(out, t)
		}
	}
	return out
}

// swap puts next in place of p, unless the agent is shutting down or p is
// being stopped.
func (s *Supervisor) swap(p, next *proc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := p.record().ID
	if s.closed || p.stopRequested() || s.workers[id] != p {
		return false
	}
	s.workers[id] = next
	return true
}

// restartAfter starts p after delay, unless it is stopped meanwhile, and
// kills it when it is not ready within its ready timeout: its exit then
// counts as one more failure.
func (s *Supervisor) restartAfter(p *proc, b api.Backend, delay time.Duration) {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-p.stopped:
	}
	if p.stopRequested() {
		s.forget(p, -1)
		close(p.gone)
		return
	}
	s.movePortIfTaken(p)
	if err := s.launch(context.Background(), p, b); err != nil {
		s.keepFailed(p, -1, "restart failed", fmt.Sprintf("%v; check the command of backend %s in the agent config", err, b.Name))
		close(p.gone)
		return
	}
	s.killUnlessReady(p, cmpTimeout(p.readyTimeout))
}

// killUnlessReady waits until p is ready or gone, and kills it once
// timeout has passed.
func (s *Supervisor) killUnlessReady(p *proc, timeout time.Duration) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.ready:
	case <-p.gone:
	case <-timer.C:
		p.kill(fmt.Sprintf("not ready within %s after its restart", timeout))
	}
}

// cmpTimeout returns the ready timeout d, or the default one for 0.
func cmpTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return api.DefaultReadyTimeoutMS * time.Millisecond
	}
	return d
}

// movePortIfTaken gives p another free port when something took its own
// while it was down, so the restart does not fail on the bind.
func (s *Supervisor) movePortIfTaken(p *proc) {
	if portFree(p.port) {
		return
	}
	id := p.record().ID
	port, err := s.reservePort(id)
	if err != nil {
		return // the restart fails on the bind and says so
	}
	s.mu.Lock()
	old := p.port
	p.port = port
	delete(s.ports, old)
	s.mu.Unlock()
	p.mu.Lock()
	p.w.URL = s.workerURL(port)
	p.mu.Unlock()
	s.log.Info("port of the restarted worker was taken; it moves", "worker", id, "from", old, "to", port)
}
