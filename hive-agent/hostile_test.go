package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestAgentWithstandsIdleConnections opens 1,000 idle connections to a
// real agent from one loopback address: it keeps at most its per-address
// cap open and still answers a client from another address.
func TestAgentWithstandsIdleConnections(t *testing.T) {
	q := startQueen(t, "127.0.0.1:0")
	a := startAgent(t, q.url(), "")
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 5 * time.Second}
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range 1000 {
		c, err := dialer.Dial("tcp", a.listen)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + a.listen + "/v1/health")
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
		t.Errorf("the agent keeps %d idle connections of one address open, want at most 128", open)
	}
}

// TestAgentRefusalCarriesRequestID: a request without the queen's token
// gets 401 with the request id in header and body, and the agent logs the
// refusal with it.
func TestAgentRefusalCarriesRequestID(t *testing.T) {
	q := startQueen(t, "127.0.0.1:0")
	a := startAgent(t, q.url(), "")
	req, _ := http.NewRequest("GET", "http://"+a.listen+"/v1/workers/list", nil)
	req.Header.Set("X-Request-ID", "agent-probe-1")
	req.Header.Set("Authorization", "Bearer wrong-token-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body api.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusUnauthorized ||
		body.Error.RequestID != "agent-probe-1" || resp.Header.Get("X-Request-ID") != "agent-probe-1" {
		t.Fatalf("status %d, body %+v (%v): want 401 carrying agent-probe-1", resp.StatusCode, body, err)
	}
	a.waitOutput(t, "request_id=agent-probe-1", 5*time.Second)
	if out := a.stderr.String(); !strings.Contains(out, "refused request") || strings.Contains(out, "wrong-token-123") {
		t.Errorf("agent log:\n%s\nwant the refusal, without the token", out)
	}
}
