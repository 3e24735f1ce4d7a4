package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/testenv/fleet"
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

// TestSIGHUPRotatesTheAdminToken rewrites admin.token of a real `queen
// serve` and sends SIGHUP: the queen keeps running, the new token works and
// the old one is refused.
func TestSIGHUPRotatesTheAdminToken(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	oldToken := readToken(t, d.dataDir)
	newToken := strings.Repeat("5e", 32)
	if err := os.WriteFile(filepath.Join(d.dataDir, "admin.token"), []byte(newToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := fleet.Await(ctx, "the new token to work", func() (bool, string, error) {
		select {
		case <-d.exited:
			return false, "", errors.New("queen exited on SIGHUP")
		default:
		}
		code := statusWith(t, d, newToken)
		return code == http.StatusOK, strconv.Itoa(code), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if code := statusWith(t, d, oldToken); code != http.StatusUnauthorized {
		t.Errorf("old token after rotation: status %d, want 401", code)
	}
	log, _ := os.ReadFile(d.logPath)
	if !strings.Contains(string(log), "reloaded the admin token") || strings.Contains(string(log), newToken) {
		t.Errorf("queen log must say it reloaded, without the token:\n%s", log)
	}
}

// statusWith returns the status of an admin route called with token.
func statusWith(t *testing.T, d *daemon, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", d.url+"/v1/hives", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRefusedRequestIsLoggedWithItsID: a wrong token at a real `queen
// serve` gets an answer whose body and header carry the same request id,
// and the queen logs the refusal with that id and a fingerprint of the
// token, never the token.
func TestRefusedRequestIsLoggedWithItsID(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	const wrong = "not-the-admin-token-4242"
	req, _ := http.NewRequest("GET", d.url+"/v1/hives", nil)
	req.Header.Set("Authorization", "Bearer "+wrong)
	req.Header.Set("X-Request-ID", "probe-7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct {
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 401 ||
		resp.Header.Get("X-Request-ID") != "probe-7" || body.Error.RequestID != "probe-7" {
		t.Fatalf("status %d, header %q, body id %q (%v): want 401 carrying probe-7",
			resp.StatusCode, resp.Header.Get("X-Request-ID"), body.Error.RequestID, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err = fleet.Await(ctx, "the refusal in the queen log", func() (bool, string, error) {
		log, _ := os.ReadFile(d.logPath)
		return strings.Contains(string(log), "refused request") && strings.Contains(string(log), "request_id=probe-7"), "", nil
	})
	log, _ := os.ReadFile(d.logPath)
	if err != nil || strings.Contains(string(log), wrong) || !strings.Contains(string(log), "token=sha256:") {
		t.Errorf("queen log (%v):\n%s\nwant the refusal with its id and a token fingerprint, not the token", err, log)
	}
}
