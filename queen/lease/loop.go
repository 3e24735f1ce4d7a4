package lease

import (
	"context"
	"fmt"
	"time"
)

// run competes for, holds and renews the lease until ctx ends.
func (l *Lease) run(ctx context.Context) {
	defer close(l.done)
	defer l.stop()
	tick := time.NewTicker(l.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-l.fenced:
		}
		if l.holding() {
			l.renew(ctx)
		} else {
			l.compete(ctx)
		}
	}
}

// stop ends the active duties and closes the lock connection, which
// releases the lock.
func (l *Lease) stop() {
	l.mu.Lock()
	if l.active {
		l.active = false
		l.cancel()
		l.log.Info("lease released: this queen is shutting down", "epoch", l.epoch)
	}
	l.mu.Unlock()
	l.dropConn()
}

// compete tries the lock once; with it, the queen takes over under the
// next epoch, else it notes who holds the lease.
func (l *Lease) compete(ctx context.Context) {
	if err := l.lock(ctx); err != nil {
		l.note(err)
		return
	}
	if !l.locked {
		l.observe(ctx)
		return
	}
	octx, cancel := context.WithTimeout(ctx, l.opTimeout())
	defer cancel()
	var epoch int64
	if err := l.conn.QueryRow(octx, acquireSQL, l.cfg.Holder, l.cfg.URL).Scan(&epoch); err != nil {
		l.dropConn()
		l.note(fmt.Errorf("take over the lease: %w", err))
		return
	}
	l.becomeActive(ctx, epoch)
}

// lock connects if needed and tries the advisory lock unless held.
func (l *Lease) lock(ctx context.Context) error {
	if l.conn != nil && l.conn.IsClosed() {
		l.dropConn()
	}
	if l.conn == nil {
		conn, err := l.dial(ctx)
		if err != nil {
			return err
		}
		l.conn = conn
	}
	if l.locked {
		return nil
	}
	octx, cancel := context.WithTimeout(ctx, l.opTimeout())
	defer cancel()
	if err := l.conn.QueryRow(octx, "SELECT pg_try_advisory_lock($1)", lockKey).Scan(&l.locked); err != nil {
		l.dropConn()
		return fmt.Errorf("try the lease lock: %w", err)
	}
	if l.failing {
		l.log.Info("lease: database reachable again")
		l.failing = false
	}
	return nil
}

// observe reads the lease row for the standby's status.
func (l *Lease) observe(ctx context.Context) {
	octx, cancel := context.WithTimeout(ctx, l.opTimeout())
	defer cancel()
	var epoch int64
	var holder, url string
	var age float64
	err := l.conn.QueryRow(octx, `SELECT epoch, holder, holder_url, EXTRACT(EPOCH FROM now() - renewed_at)::float8
		FROM queen_lease WHERE id = 1`).Scan(&epoch, &holder, &url, &age)
	if err != nil {
		return // no row yet, or a failure the next lock attempt reports
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch, l.holder, l.url = epoch, holder, url
	l.renewed = time.Now().Add(-time.Duration(age * float64(time.Second)))
}

// becomeActive starts the active duties under epoch.
func (l *Lease) becomeActive(ctx context.Context, epoch int64) {
	actx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	l.active, l.epoch, l.cancel = true, epoch, cancel
	l.holder, l.url, l.renewed = l.cfg.Holder, l.cfg.URL, time.Now()
	l.mu.Unlock()
	l.log.Info("lease acquired: this queen is active", "epoch", epoch, "url", l.cfg.URL)
	if l.cfg.OnActive != nil {
		go l.cfg.OnActive(actx, epoch)
	}
}

// renew extends the lease; it steps down when the lease time passed
// without a renewal or another queen holds the lock or the epoch. A
// failure on a dead connection is retried once on a new one.
func (l *Lease) renew(ctx context.Context) {
	l.mu.Lock()
	epoch, since := l.epoch, time.Since(l.renewed)
	l.mu.Unlock()
	if since > l.cfg.TTL {
		l.stepDown(fmt.Sprintf("no renewal for %s, past the lease time %s", since.Round(time.Millisecond), l.cfg.TTL))
		return
	}
	for range 2 {
		err := l.renewOnce(ctx, epoch)
		if err == nil || ctx.Err() != nil {
			return
		}
		l.note(err)
	}
}

// renewOnce tries one renewal; an error means the connection was dropped.
func (l *Lease) renewOnce(ctx context.Context, epoch int64) error {
	if err := l.lock(ctx); err != nil {
		return err
	}
	if !l.locked {
		l.stepDown("another queen holds the lease lock")
		return nil
	}
	octx, cancel := context.WithTimeout(ctx, l.opTimeout())
	defer cancel()
	tag, err := l.conn.Exec(octx, "UPDATE queen_lease SET renewed_at = now() WHERE id = 1 AND epoch = $1", epoch)
	switch {
	case err != nil:
		l.dropConn()
		return fmt.Errorf("renew the lease: %w", err)
	case tag.RowsAffected() == 0:
		l.stepDown("another queen took over (the lease row has a newer epoch)")
	default:
		l.mu.Lock()
		l.renewed = time.Now()
		l.mu.Unlock()
	}
	return nil
}

// stepDown ends the active duties and gives the lock up.
func (l *Lease) stepDown(reason string) {
	l.mu.Lock()
	was := l.active
	l.active = false
	if was {
		l.cancel()
	}
	epoch := l.epoch
	l.mu.Unlock()
	l.dropConn()
	if was {
		l.log.Warn("lease lost: this queen stepped down and is standby now", "epoch", epoch, "reason", reason)
	}
}

// dropConn closes the lock connection, releasing the lock.
func (l *Lease) dropConn() {
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		l.conn.Close(ctx)
		cancel()
	}
	l.conn, l.locked = nil, false
}

// note logs a database failure of the loop, once until the database
// answers again.
func (l *Lease) note(err error) {
	if !l.failing {
		l.log.Warn("lease: database unreachable, retrying at every poll", "err", err, "active", l.holding())
	}
	l.failing = true
}
