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
		if pgid == 0 || p.record().State == api.WorkerFailed {
			continue // not started yet, or gone
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
// state file: a ready worker (idle, busy or unhealthy) whose process still
// runs is taken over (watched, health-checked, listed, registered at the
// queen); one that was still loading is ended, since the spawn that waited
// for it is gone; records of processes that no longer run are dropped. It
// returns how many it adopted and ended.
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
		switch s.adoptOne(ctx, sw) {
		case adoptTaken:
			adopted++
		case adoptEnded:
			ended++
		}
	}
	s.save()
	return adopted, ended, nil
}

// Outcomes of adoptOne.
const (
	adoptGone  = iota // the process no longer runs
	adoptEnded        // it was loading and got killed
	adoptTaken        // it runs on under this agent
)

// adoptOne takes over, ends or drops the saved worker sw.
func (s *Supervisor) adoptOne(ctx context.Context, sw savedWorker) int {
	w := sw.Worker
	w.Node = s.cfg.Node
	p := newProc(w, sw.Token, sw.Port, sw.Log)
	p.pgid, p.startTick = sw.PGID, sw.StartTick
	if sw.PGID <= 0 || !p.alive() {
		s.log.Info("worker of the previous agent is gone", "worker", w.ID, "pid", sw.PGID)
		return adoptGone
	}
	if w.State != api.WorkerIdle && w.State != api.WorkerBusy && w.State != api.WorkerUnhealthy {
		s.log.Warn("ending worker the previous agent left loading", "worker", w.ID, "pid", sw.PGID, "state", w.State)
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		return adoptEnded
	}
	s.mu.Lock()
	s.workers[w.ID] = p
	s.ports[p.port] = w.ID
	s.mu.Unlock()
	p.readyOnce.Do(func() { close(p.ready) })
	close(p.registered)
	b, _ := s.configured(w.Backend) // a backend no longer configured: the worker's own /health
	p.setHealthURL(b, s.placeholders(w, p.port))
	go func() { s.exited(p, p.wait()) }()
	go s.watchHealth(p)
	s.log.Info("adopted worker of the previous agent", "worker", w.ID, "pid", sw.PGID, "url", w.URL)
	s.relayRegister(ctx, p.record())
	return adoptTaken
}
