package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/rbee-fleet/rbee/shared/api"
)

// workersForwardCmd is `queen workers forward`.
type workersForwardCmd struct {
	ID     string `name:"id" required:"" placeholder:"ID" help:"ID of the worker, as queen workers list shows it."`
	Listen string `name:"listen" default:"127.0.0.1:0" placeholder:"ADDR" help:"Local address to serve (default ${default}: a free port)."`
}

// Run serves a local port whose every connection is a tunnel to the
// worker's port through the queen (over the node's SSH connection under
// the ssh transport), until interrupted.
func (c *workersForwardCmd) Run(ctx context.Context, s *session) error {
	if err := api.ValidateWorkerID(c.ID); err != nil {
		return withHint(fmt.Errorf("check --id: %w", err), hintListWorkers)
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	probe, err := q.ConnectWorker(ctx, c.ID) // fail before listening when the worker cannot be reached
	if err != nil {
		return workerNotFound(c.ID, s.explain(err))
	}
	probe.Close()
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return withHint(fmt.Errorf("listen on %s: %w", c.Listen, err), "pick another address with --listen, e.g. 127.0.0.1:0")
	}
	defer ln.Close()
	s.say("Forwarding http://%s -> worker %s (Ctrl-C to stop)", ln.Addr(), c.ID)
	return forwardConns(ctx, ln, func(ctx context.Context) (net.Conn, error) { return q.ConnectWorker(ctx, c.ID) }, s)
}

// forwardConns accepts on ln until ctx ends and joins each connection to a
// new tunnel.
func forwardConns(ctx context.Context, ln net.Listener, open func(context.Context) (net.Conn, error), s *session) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		local, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		wg.Go(func() {
			remote, err := open(ctx)
			if err != nil {
				fmt.Fprintf(s.stderr, "forward: %v\n", err)
				local.Close()
				return
			}
			join(local, remote)
		})
	}
}

// join copies both ways between a and b and closes both when done.
func join(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(a, b); a.Close() })
	wg.Go(func() { _, _ = io.Copy(b, a); b.Close() })
	wg.Wait()
}
