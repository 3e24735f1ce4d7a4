package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rbee-fleet/rbee/shared/version"
)

var (
	// errCrash is the cause of a stop asked for by --crash-after; main exits
	// with exitCrash.
	errCrash = errors.New("crashed on purpose")
	// errStopSignal is the cause of a stop by SIGTERM or SIGINT: a graceful
	// shutdown and exit 0.
	errStopSignal = errors.New("stop signal")
)

// shutdownTimeout bounds the wait for open requests after a stop signal.
const shutdownTimeout = 5 * time.Second

// worker is one running rbee-worker: its flags, its readiness and its slots.
type worker struct {
	log   *slog.Logger
	cfg   cli
	token string // never logged
	// url is http://<advertise-host>:<port>, set once the port is bound.
	url string
	// ready turns true once the "model" is loaded and stays true.
	ready atomic.Bool
	// slots holds one token per completion in flight; its capacity is
	// --slots.
	slots chan struct{}
	// client sends the ready callback; nil means http.DefaultClient.
	client *http.Client
}

// run binds the port, serves HTTP, becomes ready and calls back, then serves
// until ctx ends. The cause of ctx decides the result: a stop signal shuts
// down gracefully and returns nil; any other cause (a crash knob, a server
// failure) is returned at once.
func (w *worker) run(ctx context.Context) error {
	ln, err := listen(w.cfg.Host, w.cfg.Port)
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	w.url = "http://" + net.JoinHostPort(w.cfg.AdvertiseHost, strconv.Itoa(port))
	srv := &http.Server{
		Handler:           w.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelWarn),
	}
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("serve http on %s: %w", ln.Addr(), err))
		}
	}()
	w.log.Info("listening", keyAddr, ln.Addr().String(), keyURL, w.url,
		"version", version.String(), "pid", os.Getpid(), "slots", w.cfg.Slots)
	if err := w.becomeReady(ctx); err != nil && ctx.Err() == nil {
		srv.Close()
		return err
	}
	<-ctx.Done()
	return w.stop(srv, context.Cause(ctx))
}

// listen binds host:port. When the port is taken the error reads
// "listen on 0.0.0.0:8081: address already in use": the agent sees exit 1
// and tries the next port.
func listen(host string, port int) (net.Listener, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	// Drop the "listen tcp …: bind:" layers so the line names the address once.
	cause := err
	if se, ok := errors.AsType[*os.SyscallError](err); ok {
		cause = se.Err
	}
	if errors.Is(cause, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen on %s: %w; stop what holds the port or pick another --port", addr, cause)
	}
	return nil, fmt.Errorf("listen on %s: %w", addr, cause)
}

// becomeReady waits out the load delay, marks the worker ready and sends
// the ready callback. With --never-ready it returns at once and the worker
// stays loading.
func (w *worker) becomeReady(ctx context.Context) error {
	if w.cfg.NeverReady {
		w.log.Info("never ready (--never-ready): /health stays 503 loading and no callback is sent")
		return nil
	}
	if d := w.cfg.LoadDelay; d > 0 {
		w.log.Info("loading model", "model_ref", w.cfg.ModelRef, keyDuration, d)
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	// Ready before the callback: the agent may route work or probe /health
	// as soon as it has the callback.
	w.ready.Store(true)
	w.log.Info("ready", "model_ref", w.cfg.ModelRef, "backend", w.cfg.Backend, "device", w.cfg.Device)
	if w.cfg.CallbackURL == "" {
		w.log.Info("no --callback-url; not calling back")
		return nil
	}
	return w.callBack(ctx)
}

// stop ends the HTTP server. After a stop signal it waits up to
// shutdownTimeout for open requests and returns nil; after any other cause
// it closes at once, as a crash would, and returns the cause.
func (w *worker) stop(srv *http.Server, cause error) error {
	if !errors.Is(cause, errStopSignal) {
		srv.Close()
		return cause
	}
	w.log.Info("shutting down", "reason", cause.Error(), "timeout", shutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		w.log.Warn("open requests cut off at the shutdown timeout", keyErr, err)
		srv.Close()
	}
	w.log.Info("stopped")
	return nil
}

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
