package provision

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestDialTrustOnFirstUse(t *testing.T) {
	keyPath, pub := newKeyFile(t, "")
	srv := startServer(t, []ssh.PublicKey{pub})

	c := dial(t, srv.target(keyPath), DialOptions{})
	want := MarshalHostKey(srv.hostKey.PublicKey())
	if got := c.HostKey(); got != want {
		t.Errorf("HostKey() = %q, want the server's key %q", got, want)
	}
	if strings.HasSuffix(c.HostKey(), "\n") {
		t.Error("HostKey() ends with a newline")
	}
	if got, want := c.HostKeyFingerprint(), ssh.FingerprintSHA256(srv.hostKey.PublicKey()); got != want {
		t.Errorf("HostKeyFingerprint() = %s, want %s", got, want)
	}
	if fp, err := FingerprintOf(c.HostKey()); err != nil || fp != c.HostKeyFingerprint() {
		t.Errorf("FingerprintOf(HostKey()) = %s, %v; want %s", fp, err, c.HostKeyFingerprint())
	}

	pinned := srv.target(keyPath)
	pinned.HostKey = c.HostKey()
	dial(t, pinned, DialOptions{}) // the recorded key pins the next connection
}

func TestDialHostKeyChecks(t *testing.T) {
	keyPath, pub := newKeyFile(t, "")
	ed := newSigner(t)
	ec := newECDSASigner(t)
	srv := startServer(t, []ssh.PublicKey{pub}, ec, ed) // x/crypto alone would pick ecdsa
	other := newSigner(t).PublicKey()
	tests := []struct {
		name    string
		hostKey string
		expect  string
		wantErr *HostKeyMismatchError
	}{
		{name: "pinned ed25519 matches", hostKey: MarshalHostKey(ed.PublicKey())},
		{name: "pinned ecdsa matches although ed25519 is preferred", hostKey: MarshalHostKey(ec.PublicKey())},
		{name: "first use records ed25519 like ssh"},
		{name: "pinned key differs", hostKey: MarshalHostKey(other),
			wantErr: &HostKeyMismatchError{Want: Fingerprint(other), Got: Fingerprint(ed.PublicKey()), Pinned: true}},
		{name: "expected fingerprint matches", expect: Fingerprint(ed.PublicKey())},
		{name: "expected fingerprint without prefix", expect: strings.TrimPrefix(Fingerprint(ed.PublicKey()), "SHA256:")},
		{name: "expected fingerprint differs", expect: Fingerprint(other),
			wantErr: &HostKeyMismatchError{Want: Fingerprint(other), Got: Fingerprint(ed.PublicKey())}},
		{name: "pin wins over expected fingerprint", hostKey: MarshalHostKey(ed.PublicKey()), expect: Fingerprint(other)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := srv.target(keyPath)
			target.HostKey, target.ExpectFingerprint = tt.hostKey, tt.expect
			c, err := Dial(t.Context(), target, DialOptions{})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Dial = %v, want success", err)
				}
				defer c.Close()
				if tt.hostKey == "" && c.HostKey() != MarshalHostKey(ed.PublicKey()) {
					t.Errorf("HostKey() = %s, want the ed25519 key", c.HostKey())
				}
				return
			}
			got, ok := IsHostKeyMismatch(err)
			if !ok || !errors.Is(err, ErrHostKeyMismatch) || Retryable(err) {
				t.Fatalf("Dial = %v, want a non-retryable *HostKeyMismatchError", err)
			}
			tt.wantErr.Host = srv.addr()
			if *got != *tt.wantErr {
				t.Errorf("mismatch = %+v, want %+v", *got, *tt.wantErr)
			}
			for _, fp := range []string{tt.wantErr.Want, tt.wantErr.Got} {
				if !strings.Contains(err.Error(), fp) {
					t.Errorf("error %q does not name fingerprint %s", err, fp)
				}
			}
		})
	}
}

func TestDialAuth(t *testing.T) {
	priv := newPrivateKey(t)
	keyPath := writeKeyFile(t, priv, "")
	srv := startServer(t, []ssh.PublicKey{publicKey(t, priv)})
	strangerPriv := newPrivateKey(t)
	strangerPath := writeKeyFile(t, strangerPriv, "")

	t.Run("key file", func(t *testing.T) {
		dial(t, srv.target(keyPath), DialOptions{AgentSocket: "/nonexistent"})
	})
	t.Run("agent when no key file", func(t *testing.T) {
		dial(t, srv.target(""), DialOptions{AgentSocket: startAgent(t, strangerPriv, priv)})
	})
	t.Run("key file not authorized", func(t *testing.T) {
		_, err := Dial(t.Context(), srv.target(strangerPath), DialOptions{})
		authErr, ok := errors.AsType[*AuthError](err)
		if !ok || !errors.Is(err, ErrAuth) || Retryable(err) {
			t.Fatalf("Dial = %v, want a non-retryable *AuthError", err)
		}
		want := "SSH authentication failed for tester@" + srv.addr() + ": Permission denied (publickey)"
		if err.Error() != want || authErr.KeyPath != strangerPath {
			t.Errorf("Dial = %q (key %q), want %q (key %q)", err, authErr.KeyPath, want, strangerPath)
		}
	})
	t.Run("agent keys not authorized", func(t *testing.T) {
		_, err := Dial(t.Context(), srv.target(""), DialOptions{AgentSocket: startAgent(t, strangerPriv)})
		if authErr, ok := errors.AsType[*AuthError](err); !ok || !authErr.Agent {
			t.Errorf("Dial = %v, want an *AuthError from agent keys", err)
		}
	})
}

func TestDialNoCredentials(t *testing.T) {
	srv := startServer(t, nil)
	emptyAgent := startAgent(t)
	tests := []struct {
		name        string
		keyPath     string
		agentSocket string
		wantInMsg   string
	}{
		{"encrypted key", writeKeyFile(t, newPrivateKey(t), "correct horse"), "", "passphrase"},
		{"missing key file", filepath.Join(t.TempDir(), "nope"), "", "read key file"},
		{"not a key", writeFile(t, filepath.Join(t.TempDir(), "id"), "hello"), "", "parse key"},
		{"agent without keys", "", emptyAgent, "has no keys"},
		{"agent socket gone", "", filepath.Join(t.TempDir(), "sock"), "connect to ssh-agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dial(t.Context(), srv.target(tt.keyPath), DialOptions{AgentSocket: tt.agentSocket})
			if !errors.Is(err, ErrNoCredentials) || Retryable(err) || !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("Dial = %v, want ErrNoCredentials mentioning %q", err, tt.wantInMsg)
			}
		})
	}
	if n := srv.handshakes.Load(); n != 0 {
		t.Errorf("server saw %d handshakes, want none: credentials are checked before dialling", n)
	}
}

func TestDialNeitherKeyNorAgent(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := startServer(t, nil)
	_, err := Dial(t.Context(), srv.target(""), DialOptions{})
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "SSH_AUTH_SOCK") {
		t.Errorf("Dial = %v, want ErrNoCredentials naming SSH_AUTH_SOCK", err)
	}
}

// TestDialProxyJump crosses two jump hosts, checked against known_hosts,
// and counts one handshake per server.
func TestDialProxyJump(t *testing.T) {
	keyPath, pub := newKeyFile(t, "")
	authorized := []ssh.PublicKey{pub}
	jump1, jump2, node := startServer(t, authorized), startServer(t, authorized), startServer(t, authorized)
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, knownHosts, knownHostsLines(t, jump1, jump2))
	target := node.target(keyPath)
	target.ProxyJump = "hop1@" + jump1.addr() + ",hop2@" + jump2.addr()
	var handshakes []string
	opts := DialOptions{KnownHostsPath: knownHosts, OnHandshake: func(ep Endpoint) { handshakes = append(handshakes, ep.String()) }}

	c := dial(t, target, opts)
	want := []string{"hop1@" + jump1.addr(), "hop2@" + jump2.addr(), "tester@" + node.addr()}
	if strings.Join(handshakes, " ") != strings.Join(want, " ") {
		t.Errorf("handshakes %q, want %q", handshakes, want)
	}
	if got := c.HostKey(); got != MarshalHostKey(node.hostKey.PublicKey()) {
		t.Errorf("HostKey() = %q, want the node's key, not a jump host's", got)
	}
	if out, err := c.RunArgs(t.Context(), "echo", "through two hops"); err != nil || string(out) != "through two hops\n" {
		t.Errorf("RunArgs = %q, %v; want \"through two hops\\n\"", out, err)
	}
	for name, s := range map[string]*testServer{"jump1": jump1, "jump2": jump2, "node": node} {
		if n := s.handshakes.Load(); n != 1 {
			t.Errorf("%s saw %d handshakes, want 1", name, n)
		}
	}
}

func TestDialProxyJumpHostKeys(t *testing.T) {
	keyPath, pub := newKeyFile(t, "")
	jump, node := startServer(t, []ssh.PublicKey{pub}), startServer(t, []ssh.PublicKey{pub})
	target := node.target(keyPath)
	target.ProxyJump = jump.addr()

	t.Run("jump host key changed", func(t *testing.T) {
		knownHosts := writeKnownHosts(t, jump.addr(), newSigner(t).PublicKey())
		_, err := Dial(t.Context(), target, DialOptions{KnownHostsPath: knownHosts})
		if e, ok := IsHostKeyMismatch(err); !ok || e.Got != Fingerprint(jump.hostKey.PublicKey()) {
			t.Errorf("Dial = %v, want a mismatch for the jump host", err)
		}
	})
	t.Run("jump host unknown is trusted with a warning", func(t *testing.T) {
		var logs bytes.Buffer
		opts := DialOptions{KnownHostsPath: filepath.Join(t.TempDir(), "none"), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		dial(t, target, opts)
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), Fingerprint(jump.hostKey.PublicKey())) {
			t.Errorf("log = %q, want a warning with the jump host's fingerprint", logs.String())
		}
	})
	t.Run("node unreachable from the jump host", func(t *testing.T) {
		unreachable := target
		unreachable.Port = closedPort(t)
		knownHosts := writeKnownHosts(t, jump.addr(), jump.hostKey.PublicKey())
		_, err := Dial(t.Context(), unreachable, DialOptions{KnownHostsPath: knownHosts})
		if !errors.Is(err, ErrNetwork) || !Retryable(err) {
			t.Errorf("Dial = %v, want a retryable network error", err)
		}
	})
	t.Run("node stalls behind the jump host", func(t *testing.T) {
		stalled := target
		stalled.Host, stalled.Port = splitAddr(t, stalledListener(t))
		stalled.ConnectTimeout = 300 * time.Millisecond
		knownHosts := writeKnownHosts(t, jump.addr(), jump.hostKey.PublicKey())
		start := time.Now()
		_, err := Dial(t.Context(), stalled, DialOptions{KnownHostsPath: knownHosts})
		if !errors.Is(err, ErrTimeout) || time.Since(start) > 3*time.Second {
			t.Errorf("Dial = %v after %s, want ErrTimeout after about 300ms", err, time.Since(start))
		}
	})
}

// dial dials target and closes the client at cleanup.
func dial(t *testing.T, target Target, opts DialOptions) *Client {
	t.Helper()
	c, err := Dial(t.Context(), target, opts)
	if err != nil {
		t.Fatalf("Dial(%s:%d) = %v", target.Host, target.Port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func knownHostsLines(t *testing.T, servers ...*testServer) string {
	t.Helper()
	var b strings.Builder
	for _, s := range servers {
		b.WriteString("[127.0.0.1]:" + strings.TrimPrefix(s.addr(), "127.0.0.1:") + " " + MarshalHostKey(s.hostKey.PublicKey()) + "\n")
	}
	return b.String()
}
