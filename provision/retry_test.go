package provision

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// attempt is one OnAttempt call.
type attempt struct {
	n, total  int
	err       error
	nextDelay time.Duration
}

// TestDialWithRetryRefused uses the default policy against a closed port:
// three attempts, with 200ms then 400ms (±20%) between them.
func TestDialWithRetryRefused(t *testing.T) {
	keyPath, _ := newKeyFile(t, "")
	target := Target{Host: "127.0.0.1", Port: closedPort(t), User: "u", KeyPath: keyPath, SSHConfigPath: os.DevNull}
	var calls []attempt
	policy := RetryPolicy{OnAttempt: func(n, total int, err error, next time.Duration) {
		calls = append(calls, attempt{n, total, err, next})
	}}

	start := time.Now()
	_, err := DialWithRetry(t.Context(), target, policy, DialOptions{})
	elapsed := time.Since(start)

	if !errors.Is(err, ErrRefused) || !strings.HasPrefix(err.Error(), "SSH connection failed after 3 attempts: ssh connect to ") {
		t.Errorf("DialWithRetry = %v, want \"SSH connection failed after 3 attempts: ...\" matching ErrRefused", err)
	}
	if len(calls) != 3 {
		t.Fatalf("OnAttempt called %d times, want 3", len(calls))
	}
	wantDelays := []struct{ lo, hi time.Duration }{{160 * time.Millisecond, 240 * time.Millisecond}, {320 * time.Millisecond, 480 * time.Millisecond}, {0, 0}}
	var slept time.Duration
	for i, c := range calls {
		if c.n != i+1 || c.total != 3 || !errors.Is(c.err, ErrRefused) {
			t.Errorf("call %d: attempt %d of %d, err %v; want attempt %d of 3 with ErrRefused", i, c.n, c.total, c.err, i+1)
		}
		if c.nextDelay < wantDelays[i].lo || c.nextDelay > wantDelays[i].hi {
			t.Errorf("call %d: next delay %s, want %s-%s", i, c.nextDelay, wantDelays[i].lo, wantDelays[i].hi)
		}
		slept += c.nextDelay
	}
	if elapsed < slept || elapsed > 2*time.Second {
		t.Errorf("DialWithRetry took %s, want between the %s slept and 2s", elapsed, slept)
	}
}

func TestDialWithRetryDoesNotRetry(t *testing.T) {
	keyPath, pub := newKeyFile(t, "")
	strangerKey, _ := newKeyFile(t, "")
	srv := startServer(t, []ssh.PublicKey{pub})
	tests := []struct {
		name   string
		target Target
		want   error
	}{
		{"authentication failure", srv.target(strangerKey), ErrAuth},
		{"host key mismatch", withHostKey(srv.target(keyPath), newSigner(t).PublicKey()), ErrHostKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attempts := 0
			policy := RetryPolicy{
				OnAttempt: func(_, _ int, _ error, _ time.Duration) { attempts++ },
				Sleep:     func(context.Context, time.Duration) error { t.Error("slept before a retry"); return nil },
			}
			_, err := DialWithRetry(t.Context(), tt.target, policy, DialOptions{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("DialWithRetry = %v, want %v", err, tt.want)
			}
			if attempts != 1 {
				t.Errorf("%d attempts, want 1", attempts)
			}
			if strings.Contains(err.Error(), "attempts") {
				t.Errorf("DialWithRetry = %q; a single attempt should not mention attempts", err)
			}
		})
	}
}

// TestDialWithRetryRecovers: the first connection is closed before the SSH
// banner (a handshake EOF, as from an sshd still starting), the second works.
func TestDialWithRetryRecovers(t *testing.T) {
	keyPath, pub := newKeyFile(t, "")
	srv := startServer(t, []ssh.PublicKey{pub})
	front := startProxy(t, srv.addr())
	front.dropNext(1)
	target := srv.target(keyPath)
	target.Port = front.port()
	var calls []attempt
	policy := RetryPolicy{
		OnAttempt: func(n, total int, err error, next time.Duration) { calls = append(calls, attempt{n, total, err, next}) },
		Sleep:     func(context.Context, time.Duration) error { return nil },
	}

	c, err := DialWithRetry(t.Context(), target, policy, DialOptions{})
	if err != nil {
		t.Fatalf("DialWithRetry = %v, want success on the second attempt", err)
	}
	c.Close()
	if len(calls) != 1 || !errors.Is(calls[0].err, ErrNetwork) || calls[0].nextDelay == 0 {
		t.Errorf("failed attempts = %+v, want one ErrNetwork followed by a delay", calls)
	}
}

func TestDialWithRetryCancelledWhileWaiting(t *testing.T) {
	keyPath, _ := newKeyFile(t, "")
	target := Target{Host: "127.0.0.1", Port: closedPort(t), User: "u", KeyPath: keyPath, SSHConfigPath: os.DevNull}
	ctx, cancel := context.WithCancel(t.Context())
	policy := RetryPolicy{Sleep: func(ctx context.Context, _ time.Duration) error {
		cancel()
		return ctx.Err()
	}}

	_, err := DialWithRetry(ctx, target, policy, DialOptions{})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRefused) {
		t.Errorf("DialWithRetry = %v, want both context.Canceled and the last error (ErrRefused)", err)
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	p := RetryPolicy{Jitter: -1}.withDefaults()
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond}
	for i, w := range want {
		if got := p.delay(i + 1); got != w {
			t.Errorf("delay after attempt %d = %s, want %s", i+1, got, w)
		}
	}
	d := DefaultRetryPolicy()
	if d.Attempts != 3 || d.Jitter != 0.2 || len(d.Delays) != 2 {
		t.Errorf("DefaultRetryPolicy = %+v, want 3 attempts, 2 delays, 0.2 jitter", d)
	}
}

func withHostKey(t Target, key ssh.PublicKey) Target {
	t.HostKey = MarshalHostKey(key)
	return t
}
