package httpserver

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// serve starts a server of limits on loopback and returns its address.
func serve(t *testing.T, limits Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), limits)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// dialFrom opens a TCP connection to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c within wait.
func closedByServer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func TestIdleConnectionsFromOneAddressDoNotStarveOthers(t *testing.T) {
	const idle, max = 1000, 16
	addr := serve(t, Limits{MaxConnsPerIP: max})
	conns := make([]net.Conn, idle)
	for i := range conns {
		conns[i] = dialFrom(t, "127.0.0.2", addr)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("a valid request from another address while %d idle connections are open: %v", idle, err)
	}
	resp.Body.Close()
	open := 0
	for _, c := range conns {
		if !closedByServer(c, 20*time.Millisecond) {
			open++
		}
	}
	if open > max {
		t.Errorf("%d of %d idle connections from one address still open, want at most %d", open, idle, max)
	}
}

func TestQuietConnectionsAreClosed(t *testing.T) {
	addr := serve(t, Limits{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	t.Run("one that never sends a request", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr)
		if !closedByServer(c, 5*time.Second) {
			t.Error("a connection that sent nothing is still open after 5 s")
		}
	})
	t.Run("a kept-alive one after its request", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request: %v %v", resp, err)
		}
		resp.Body.Close()
		if !closedByServer(c, 5*time.Second) {
			t.Error("an idle kept-alive connection is still open after 5 s")
		}
	})
}

func TestSlotsAreGivenBack(t *testing.T) {
	addr := serve(t, Limits{MaxConnsPerIP: 2})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 6 { // more rounds than slots: each closed connection frees its slot
		// net/http lingers up to 500 ms before it closes a connection it
		// answered with Connection: close; its slot is free after that.
		deadline := time.Now().Add(3 * time.Second)
		for {
			resp, err := client.Get("http://" + addr + "/")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("request %d: %v: the slots of closed connections were not given back", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestDefaults(t *testing.T) {
	s := New(http.NotFoundHandler(), Limits{})
	if s.ReadHeaderTimeout != DefaultReadHeaderTimeout || s.IdleTimeout != DefaultIdleTimeout ||
		s.ReadTimeout != DefaultReadTimeout || s.limits.MaxConnsPerIP != DefaultMaxConnsPerIP || s.WriteTimeout != 0 {
		t.Errorf("defaults: %+v", s.limits)
	}
}
