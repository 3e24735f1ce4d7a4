package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/lease"
	"github.com/rbee-fleet/rbee/queen/server"
)

// haQueen is one queen of an HA pair on PostgreSQL. It serves a standby
// server (every route 503 STANDBY) until the lease makes it active; then a
// fresh server, as after a restart, runs the active duties (stale checks,
// the SSH pool to installed nodes, drift checks, gateway idle stops) until
// it steps down, when a fresh standby server takes its place.
type haQueen struct {
	reg    *hiveregistry.Registry
	lease  *lease.Lease
	ready  chan struct{} // closed once reg and lease are set
	log    *slog.Logger
	cancel context.CancelFunc // ends the lease

	mu  sync.Mutex // guards cfg and swaps of cur
	cfg server.Config
	cur atomic.Pointer[serving]
}

// serving is the server that serves requests, with the context its
// requests run under: the active period's, so that a step-down also ends
// the operations in flight (installs, hive start/stop).
type serving struct {
	srv *server.Server
	ctx context.Context
}

// startHA opens the PostgreSQL store fenced by the lease and competes for
// the lease; the queen starts as standby.
func (s *serveCmd) startHA(ctx context.Context, dsn string, cfg server.Config) (runningQueen, error) {
	if cfg.QueenURL == "" {
		return nil, errors.New("a queen on PostgreSQL needs --advertise-url (or a --listen address with one host): standbys send clients to it")
	}
	dsn, err := withRuntimeParam(dsn, "idle_in_transaction_session_timeout", strconv.FormatInt(s.LeaseTTL.Milliseconds(), 10))
	if err != nil {
		return nil, err
	}
	q := &haQueen{ready: make(chan struct{}), cfg: cfg, log: cfg.Logger}
	reg, err := hiveregistry.OpenStore(ctx, dsn, hiveregistry.Options{Fence: q.fence})
	if err != nil {
		return nil, fmt.Errorf("open hive registry: %w", err)
	}
	q.reg = reg
	q.cfg.Registry = reg
	q.cfg.Lease = (*leaseStatus)(q)
	q.cur.Store(&serving{srv: server.New(q.cfg), ctx: context.Background()})
	ctx, q.cancel = context.WithCancel(ctx)
	l, err := lease.Start(ctx, lease.Config{DSN: dsn, URL: cfg.QueenURL, Poll: s.LeasePoll, TTL: s.LeaseTTL,
		Logger: cfg.Logger, OnActive: q.onActive})
	if err != nil {
		q.cancel()
		reg.Close()
		return nil, err
	}
	q.lease = l
	close(q.ready)
	return q, nil
}

// withRuntimeParam adds a server setting to a postgres:// DSN: pgx sends
// unknown query parameters as run-time parameters. A write transaction of
// a paused queen then cannot hold the lease row past the lease time.
func withRuntimeParam(dsn, name, value string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parse the PostgreSQL DSN: %w; pass --store postgres://USER@HOST/DB", err)
	}
	q := u.Query()
	if !q.Has(name) {
		q.Set(name, value)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// fence guards every registry write with the lease's epoch.
func (q *haQueen) fence(ctx context.Context, tx pgx.Tx) error {
	select {
	case <-q.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	return q.lease.Fence(ctx, tx)
}

// onActive runs the active duties on a fresh server until ctx ends (the
// queen stepped down or is shutting down).
func (q *haQueen) onActive(ctx context.Context, epoch int64) {
	select {
	case <-q.ready:
	case <-ctx.Done():
		return
	}
	active := q.swap(ctx, nil)
	q.log.Info("active duties start: connecting to the installed nodes; workers come back with the agents' next heartbeats", "epoch", epoch)
	active.Run(ctx)
	q.swap(context.Background(), active)
	q.log.Info("active duties stopped", "epoch", epoch)
}

// swap serves a fresh server whose requests end with ctx, unless the one
// serving is no longer old (nil: whichever serves), and returns it.
func (q *haQueen) swap(ctx context.Context, old *server.Server) *server.Server {
	q.mu.Lock()
	defer q.mu.Unlock()
	if old != nil && q.cur.Load().srv != old {
		return q.cur.Load().srv
	}
	s := server.New(q.cfg)
	q.cur.Store(&serving{srv: s, ctx: ctx})
	return s
}

// ServeHTTP serves the current server's routes; a request to an active
// server ends when it steps down.
func (q *haQueen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cur := q.cur.Load()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(cur.ctx, cancel)
	defer stop()
	cur.srv.Handler().ServeHTTP(w, r.WithContext(ctx))
}

// SetAdminToken puts token in force now and for the servers to come.
func (q *haQueen) SetAdminToken(token string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cfg.Token = token
	q.cur.Load().srv.SetAdminToken(token)
}

// Close gives the lease up and closes the registry.
func (q *haQueen) Close() {
	q.cancel()
	<-q.lease.Done()
	q.reg.Close()
}

// leaseStatus is the lease as the servers read it.
type leaseStatus haQueen

// Status returns the lease status; standby until the lease started.
func (l *leaseStatus) Status() lease.Status {
	select {
	case <-l.ready:
		return l.lease.Status()
	default:
		return lease.Status{Role: lease.RoleStandby}
	}
}
