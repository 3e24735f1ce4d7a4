package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestServeWithstandsIdleConnections opens 1,000 idle connections to a
// real `queen serve` from one loopback address: it keeps at most its
// per-address cap of them open and still answers a client from another
// address.
func TestServeWithstandsIdleConnections(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	addr := strings.TrimPrefix(d.url, "http://")
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range 1000 {
		c, err := dialer.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(d.url + "/v1/health")
	if err != nil {
		t.Fatalf("health while 1,000 idle connections are open: %v", err)
	}
	resp.Body.Close()
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			open++
		}
	}
	if open > 128 {
		t.Errorf("the queen keeps %d idle connections of one address open, want at most 128", open)
	}
}
