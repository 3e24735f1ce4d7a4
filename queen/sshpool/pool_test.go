package sshpool_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/queen/sshpool"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// TestPoolOnRealSSHD runs the pool against real OpenSSH hosts: one
// handshake serves many operations, a dropped connection is dialled again
// by itself, a removed node is not, and channels reach the node's loopback.
func TestPoolOnRealSSHD(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Loopback, Hosts: 2, Prefix: "pool"})
	var handshakes atomic.Int64
	connects := make(chan string, 16)
	p := sshpool.New(sshpool.Config{
		Dial:       provision.DialOptions{OnHandshake: func(provision.Endpoint) { handshakes.Add(1) }},
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		OnConnect: func(_ context.Context, n api.Node, _ *provision.Client) { connects <- n.NodeName },
		Logger:    slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	t.Cleanup(p.Close)
	n := nodeOf(f, f.Hosts[0])

	t.Run("one handshake for many concurrent operations", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				c, err := p.Get(t.Context(), n, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Run(t.Context(), "true"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := handshakes.Load(); got != 1 {
			t.Errorf("%d handshakes for 8 operations, want 1", got)
		}
		if st := p.Status(n.NodeName); !st.Connected || st.Since.IsZero() || st.LastError != "" {
			t.Errorf("status %+v, want connected with a since and no error", st)
		}
		awaitConnect(t, connects, n.NodeName)
	})

	t.Run("a dropped connection is dialled again", func(t *testing.T) {
		c, err := p.Get(t.Context(), n, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Close() // as a cut link's missed keepalives would
		awaitConnect(t, connects, n.NodeName)
		c2, err := p.Get(t.Context(), n, nil)
		if err != nil || c2 == c {
			t.Fatalf("after the drop Get = %p, %v; want a new connection", c2, err)
		}
		if got := handshakes.Load(); got != 2 {
			t.Errorf("%d handshakes, want 2 (the first and the redial)", got)
		}
	})

	t.Run("the dialer opens channels to the node's loopback", func(t *testing.T) {
		dial := p.Dialer(n)
		conn, err := dial(t.Context(), "tcp", f.Hosts[0].Address())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		banner := make([]byte, 7)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(banner); err != nil || string(banner) != "SSH-2.0" {
			t.Errorf("read %q, %v through the channel; want sshd's banner", banner, err)
		}
		if _, err := dial(t.Context(), "tcp", "127.0.0.1:1"); err == nil {
			t.Error("a closed port on the node answered")
		}
	})

	t.Run("a removed node is closed and not dialled again", func(t *testing.T) {
		before := handshakes.Load()
		p.Remove(n.NodeName)
		time.Sleep(500 * time.Millisecond) // several backoff steps
		if got := handshakes.Load(); got != before {
			t.Errorf("%d handshakes after Remove, want none", got-before)
		}
		if st := p.Status(n.NodeName); st.Connected {
			t.Errorf("status %+v after Remove, want not connected", st)
		}
	})

	t.Run("Keep connects in the background and a bad host key is an error", func(t *testing.T) {
		other := nodeOf(f, f.Hosts[1])
		p.Keep(other)
		awaitConnect(t, connects, other.NodeName)
		wrong := other
		wrong.NodeName, wrong.HostKey = "pool-wrong", f.Hosts[0].HostKey
		if _, err := p.Get(t.Context(), wrong, nil); err == nil {
			t.Fatal("a host presenting another key was accepted")
		}
		if st := p.Status(wrong.NodeName); st.Connected || st.LastError == "" {
			t.Errorf("status %+v, want the host key error", st)
		}
	})
}

// TestPoolClosed checks that a closed pool refuses work at once.
func TestPoolClosed(t *testing.T) {
	p := sshpool.New(sshpool.Config{})
	p.Close()
	if _, err := p.Get(t.Context(), api.Node{NodeName: "x", SSHHost: "127.0.0.1"}, nil); err != sshpool.ErrClosed {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := p.Dialer(api.Node{NodeName: "x"})(t.Context(), "tcp", "127.0.0.1:1"); err == nil {
		t.Error("Dialer after Close worked")
	}
}

func nodeOf(f *fleet.Fleet, h *fleet.Host) api.Node {
	return api.Node{NodeName: h.Name, SSHHost: h.Addr, SSHPort: h.Port, SSHUser: h.User,
		SSHKeyPath: f.ClientKeyPath, HostKey: h.HostKey, Transport: api.TransportSSH}
}

func awaitConnect(t *testing.T, connects <-chan string, name string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-connects:
			if got == name {
				return
			}
		case <-timeout:
			t.Fatalf("no connect of %s within 10 s", name)
		}
	}
}
