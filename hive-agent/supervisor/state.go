package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rbee-fleet/rbee/shared/api"
)

// savedWorker is one worker in the state file.
type savedWorker struct {
	Worker    api.Worker `json:"worker"`
	Token     string     `json:"token"`
	Port      int        `json:"port"`
	PGID      int        `json:"pgid"`
	StartTick uint64     `json:"start_tick"`
	Log       string     `json:"log"`
}

// save writes every worker to the state file (atomically, 0600). A failure
// is logged: the workers run on, but a restarted agent may not find them.
func (s *Supervisor) save() {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.mu.Lock()
	saved := make([]savedWorker, 0, len(s.workers))
	for _, p := range s.workers {
		p.mu.Lock()
		pgid, tick := p.pgid, p.startTick
		p.mu.Unlock()
		if pgid == 0 {
			continue // not started yet
		}
		saved = append(saved, savedWorker{Worker: p.record(), Token: p.token, Port: p.port,
			PGID: pgid, StartTick: tick, Log: p.logPath})
	}
	s.mu.Unlock()
	if err := writeState(s.cfg.StateFile, saved); err != nil {
		s.log.Warn("save worker state; a restarted agent may not find these workers", "file", s.cfg.StateFile, "err", err)
	}
}

func writeState(file string, saved []savedWorker) error {
	data, err := json.MarshalIndent(saved, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// Adopt deals with the workers a previous run of the agent left in the
// state file: a ready worker whose process still runs is taken over
// (watched, listed, registered at the queen); one that was still loading
// is ended, since the spawn that waited for it is gone; records of
// processes that no longer run are dropped. It returns how many it adopted
// and ended.
func (s *Supervisor) Adopt(ctx context.Context) (adopted, ended int, err error) {
	if err := s.ensureDirs(); err != nil {
		return 0, 0, err
	}
	data, err := os.ReadFile(s.cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read worker state %s: %w", s.cfg.StateFile, err)
	}
	var saved []savedWorker
	if err := json.Unmarshal(data, &saved); err != nil {
		s.log.Warn("worker state file unreadable; starting without it", "file", s.cfg.StateFile, "err", err)
		saved = nil
	}
	for _, sw := range saved {
		w := sw.Worker
		w.Node = s.cfg.Node
		p := newProc(w, sw.Token, sw.Port, sw.Log)
		p.pgid, p.startTick = sw.PGID, sw.StartTick
		if sw.PGID <= 0 || !p.alive() {
			s.log.Info("worker of the previous agent is gone", "worker", w.ID, "pid", sw.PGID)
			continue
		}
		if w.State != api.WorkerIdle && w.State != api.WorkerBusy {
			s.log.Warn("ending worker the previous agent left loading", "worker", w.ID, "pid", sw.PGID, "state", w.State)
			_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
			ended++
			continue
		}
		s.mu.Lock()
		s.workers[w.ID] = p
		s.ports[p.port] = w.ID
		s.mu.Unlock()
		p.readyOnce.Do(func() { close(p.ready) })
		go func() { s.exited(p, p.wait()) }()
		s.log.Info("adopted worker of the previous agent", "worker", w.ID, "pid", sw.PGID, "url", w.URL)
		adopted++
		if s.cfg.Relay != nil {
			rctx, cancel := context.WithTimeout(ctx, relayTimeout)
			if err := s.cfg.Relay.Register(rctx, p.record()); err != nil {
				s.log.Warn("relay adopted worker; the next heartbeat carries it", "worker", w.ID, "err", err)
			}
			cancel()
		}
	}
	s.save()
	return adopted, ended, nil
}
