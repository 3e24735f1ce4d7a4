package supervisor

import (
	"context"
	"os"

	"github.com/rbee-fleet/rbee/shared/api"
)

// exited is called once per worker process when it is gone. A stopped
// worker, or one whose spawn still waits for it, is forgotten (its port
// freed, relayed as removed). One that ended on its own after it was
// handed over is restarted under the same id when its backend's policy
// allows, else kept listed as failed with its exit code.
func (s *Supervisor) exited(p *proc, code int) {
	p.exitCode = code
	switch {
	case p.stopRequested() || !p.handedOver():
		s.forget(p, code)
	default:
		reason := p.exitReason(code)
		if why := s.restart(p, reason); why != "" {
			s.keepFailed(p, code, reason, why)
		}
	}
	close(p.gone)
}

// forget drops p: it frees its port, saves the state and relays the
// removal.
func (s *Supervisor) forget(p *proc, code int) {
	w := p.record()
	s.mu.Lock()
	if s.workers[w.ID] == p {
		delete(s.workers, w.ID)
	}
	s.mu.Unlock()
	s.freePort(p)
	s.save()
	switch {
	case p.stopRequested():
		s.log.Info("worker stopped", "worker", w.ID, "pid", w.PID, "exit_code", code, "killed_after_grace", p.wasKilledAfterGrace())
		_ = os.Remove(p.logPath)
	default:
		s.log.Warn("worker exited", "worker", w.ID, "pid", w.PID, "state", w.State, "exit_code", code,
			"log", p.logPath, "stderr_tail", tail(p.logPath, 10))
	}
	s.relayRemove(w.ID)
}

// keepFailed marks p failed with its exit code, frees its port and relays
// the change; p stays listed until it is stopped. why says why it was not
// restarted.
func (s *Supervisor) keepFailed(p *proc, code int, reason, why string) {
	p.mu.Lock()
	p.w.State, p.w.ExitCode, p.w.SlotsAvailable = api.WorkerFailed, &code, 0
	w := p.w
	p.mu.Unlock()
	s.freePort(p)
	s.save()
	s.log.Warn("worker failed and stays failed; remove it with `queen workers stop --id "+w.ID+"`, then spawn again",
		"worker", w.ID, "pid", w.PID, "reason", reason, "not_restarted", why, "restarts", w.Restarts,
		"log", p.logPath, "stderr_tail", tail(p.logPath, 10))
	s.relayUpdate(context.Background(), p.record())
}

// freePort gives p's port back, unless another worker holds it by now.
func (s *Supervisor) freePort(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.ports[p.port]; ok && id == p.record().ID {
		delete(s.ports, p.port)
	}
}
