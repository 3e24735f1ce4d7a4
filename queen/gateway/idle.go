package gateway

import (
	"context"
	"time"
)

// maintainEvery is how often idle workers and down marks are checked.
const maintainEvery = time.Second

// maintain stops idle workers and ends expired down marks until ctx ends.
func (g *Gateway) maintain(ctx context.Context) {
	tick := time.NewTicker(maintainEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			g.table.expireDown(now)
			g.stopIdle(ctx, now)
		}
	}
}

// stopIdle stops, through their agents, the workers idle for longer than
// Settings.IdleTimeout.
func (g *Gateway) stopIdle(ctx context.Context, now time.Time) {
	if g.cfg.IdleTimeout <= 0 || g.cfg.Fleet == nil {
		return
	}
	for _, u := range g.table.idle(now, g.cfg.IdleTimeout, g.cfg.IdleStopManual) {
		go g.stopWorker(ctx, u)
	}
}

// stopWorker stops one idle worker; when that fails it stays and its idle
// time starts again.
func (g *Gateway) stopWorker(ctx context.Context, u *upstream) {
	g.log.Info("stopping idle worker", "worker", u.id, "node", g.table.nodeOf(u), "model", u.model, "idle_timeout", g.cfg.IdleTimeout)
	if err := g.cfg.Fleet.Stop(ctx, u.id); err != nil {
		g.log.Warn("stop of idle worker failed; will try again after another idle timeout", "worker", u.id, "err", err)
		g.table.unstop(u, time.Now())
	}
}

// idle marks as stopping, and returns, the workers with nothing in flight
// and no request for timeout: those the gateway spawned, or all with
// manual.
func (t *table) idle(now time.Time, timeout time.Duration, manual bool) []*upstream {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*upstream
	check := func(u *upstream) {
		if u.listed && u.routable && !u.stopping && u.inflight == 0 && (u.spawned || manual) && now.Sub(u.lastUsed) >= timeout {
			u.stopping = true
			u.changed()
			out = append(out, u)
		}
	}
	if !manual {
		for u := range t.spawned { // only they may stop: not every worker of the fleet
			check(u)
		}
		return out
	}
	for _, u := range t.byID {
		check(u)
	}
	return out
}

// unstop puts back a worker whose stop failed.
func (t *table) unstop(u *upstream, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u.stopping, u.lastUsed = false, now
	u.changed()
}
