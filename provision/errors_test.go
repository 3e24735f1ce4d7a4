package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestClassifyNetwork(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, ErrRefused},
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, ErrNetwork},
		{"host unreachable", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, ErrNetwork},
		{"network unreachable", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, ErrNetwork},
		{"deadline on conn", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, ErrTimeout},
		{"ctx deadline through a jump host", fmt.Errorf("dial: %w", context.DeadlineExceeded), ErrTimeout},
		{"handshake cut at the deadline", &errHandshakeTimeout{time.Second}, ErrTimeout},
		{"EOF during handshake", fmt.Errorf("ssh: handshake failed: %w", io.EOF), ErrNetwork},
		{"jump host cannot reach the node", &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "dial tcp: refused"}, ErrNetwork},
		{"jump host forbids forwarding", &ssh.OpenChannelError{Reason: ssh.Prohibited}, nil},
		{"name does not resolve", &net.DNSError{Err: "no such host", Name: "gpu-9", IsNotFound: true}, ErrUnknownHost},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "gpu-9", IsTimeout: true}, ErrTimeout},
		{"no common algorithm", errors.New("ssh: handshake failed: ssh: no common algorithm for host key"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyNetwork(tt.err); got != tt.want {
				t.Errorf("classifyNetwork(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	dest := Endpoint{HostName: "10.0.0.7", Port: 22, User: "root"}
	refused := &DialError{Dest: dest, Stage: "connect", Class: ErrRefused, Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", refused, true},
		{"timeout", &DialError{Dest: dest, Stage: "handshake", Class: ErrTimeout, Err: os.ErrDeadlineExceeded}, true},
		{"reset", &DialError{Dest: dest, Stage: "handshake", Class: ErrNetwork, Err: syscall.ECONNRESET}, true},
		// net's "i/o timeout" also matches context.DeadlineExceeded.
		{"TCP connect timeout", &DialError{Dest: dest, Stage: "connect", Class: ErrTimeout, Err: connectTimeoutError(t)}, true},
		{"wrapped after retries", fmt.Errorf("SSH connection failed after 3 attempts: %w", refused), true},
		{"unclassified", &DialError{Dest: dest, Stage: "handshake", Err: errors.New("no common algorithm")}, false},
		{"unknown host", &DialError{Dest: dest, Stage: "connect", Class: ErrUnknownHost, Err: errors.New("no such host")}, false},
		{"auth", &AuthError{Dest: dest, Err: errors.New("ssh: unable to authenticate")}, false},
		{"host key", &HostKeyMismatchError{Host: "10.0.0.7:22", Want: "SHA256:a", Got: "SHA256:b", Pinned: true}, false},
		{"no credentials", fmt.Errorf("%w: no key", ErrNoCredentials), false},
		{"cancelled", fmt.Errorf("ssh connect: %w", context.Canceled), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	dest := Endpoint{HostName: "10.0.0.7", Port: 2222, User: "root"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{
			name: "auth",
			err:  &AuthError{Dest: dest, KeyPath: "/home/me/.ssh/fleet", Err: errors.New("ssh: unable to authenticate")},
			want: "SSH authentication failed for root@10.0.0.7:2222: Permission denied (publickey)",
		},
		{
			name: "pinned key changed",
			err:  &HostKeyMismatchError{Host: "10.0.0.7:2222", Want: "SHA256:old", Got: "SHA256:new", Pinned: true},
			want: "host key for 10.0.0.7:2222 changed: pinned SHA256:old, got SHA256:new",
		},
		{
			name: "expected fingerprint",
			err:  &HostKeyMismatchError{Host: "10.0.0.7:2222", Want: "SHA256:exp", Got: "SHA256:new"},
			want: "host key for 10.0.0.7:2222 does not match the expected fingerprint: expected SHA256:exp, got SHA256:new",
		},
		{
			name: "refused",
			err:  &DialError{Dest: dest, Stage: "connect", Class: ErrRefused, Err: errors.New("dial tcp 10.0.0.7:2222: connect: connection refused")},
			want: "ssh connect to root@10.0.0.7:2222: connection refused (dial tcp 10.0.0.7:2222: connect: connection refused)",
		},
		{
			name: "jump host handshake timeout",
			err:  &DialError{Dest: dest, Jump: true, Stage: "handshake", Class: ErrTimeout, Err: &errHandshakeTimeout{10 * time.Second}},
			want: "ssh handshake with jump host root@10.0.0.7:2222: timed out (connect and SSH handshake did not finish within 10s)",
		},
		{
			name: "exit",
			err:  &ExitError{Host: "root@10.0.0.7:2222", Cmd: "systemctl start rbee", Code: 5, Stderr: []byte("Unit rbee.service not found.\n")},
			want: `run "systemctl start rbee" on root@10.0.0.7:2222: exit status 5: Unit rbee.service not found.`,
		},
		{
			name: "killed",
			err:  &ExitError{Host: "root@10.0.0.7:2222", Cmd: "sleep 60", Code: 137, Signal: "KILL"},
			want: `run "sleep 60" on root@10.0.0.7:2222: exit status 137 (signal KILL)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

func TestExitErrorTruncatesStderr(t *testing.T) {
	stderr := []byte(strings.Repeat("noise\n", 500) + "fatal: the real reason\n")
	err := error(&ExitError{Host: "root@h:22", Cmd: "make", Code: 2, Stderr: stderr})
	msg := err.Error()
	if len(msg) > maxStderrInError+100 {
		t.Errorf("Error() is %d bytes, want at most about %d", len(msg), maxStderrInError+100)
	}
	if !strings.HasSuffix(msg, "fatal: the real reason") {
		t.Errorf("Error() = ...%q, want it to end with the last stderr line", msg[len(msg)-40:])
	}
	if got := StderrOf(fmt.Errorf("install: %w", err)); string(got) != string(stderr) {
		t.Errorf("StderrOf returned %d bytes, want all %d", len(got), len(stderr))
	}
	if got := StderrOf(errors.New("other")); got != nil {
		t.Errorf("StderrOf(other error) = %q, want nil", got)
	}
}

func TestHint(t *testing.T) {
	dest := Endpoint{HostName: "10.0.0.7", Port: 2222, User: "root"}
	tests := []struct {
		name string
		err  error
		want []string // substrings the hint must contain
	}{
		{"auth with key", &AuthError{Dest: dest, KeyPath: "/home/me/.ssh/fleet"},
			[]string{"ssh -i /home/me/.ssh/fleet -p 2222 root@10.0.0.7 true", "authorized_keys", "chmod 600 /home/me/.ssh/fleet"}},
		{"auth with agent", &AuthError{Dest: dest, Agent: true},
			[]string{"ssh-add -l", "ssh -v -p 2222 root@10.0.0.7 true"}},
		{"host key", fmt.Errorf("ssh handshake: %w", &HostKeyMismatchError{Host: "10.0.0.7:2222", Want: "SHA256:old", Got: "SHA256:new", Pinned: true}),
			[]string{"SHA256:new", "ssh-keygen -lf"}},
		{"no credentials", fmt.Errorf("%w: nothing", ErrNoCredentials), []string{"ssh-add"}},
		{"refused", &DialError{Dest: dest, Stage: "connect", Class: ErrRefused}, []string{"10.0.0.7:2222", "sshd"}},
		{"timeout", &DialError{Dest: dest, Stage: "handshake", Class: ErrTimeout}, []string{"firewall", "ssh -v -p 2222 root@10.0.0.7"}},
		{"unknown host", &DialError{Dest: dest, Stage: "connect", Class: ErrUnknownHost}, []string{"HostName"}},
		{"connection lost", fmt.Errorf("run: %w: EOF", ErrConnectionLost), []string{"run the command again"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Hint(tt.err)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Hint = %q\nwant it to contain %q", got, w)
				}
			}
		})
	}
	if got := Hint(errors.New("something else")); got != "" {
		t.Errorf("Hint(unknown) = %q, want empty", got)
	}
}

// TestDialRefused dials a loopback port nothing listens on.
func TestDialRefused(t *testing.T) {
	keyPath, _ := newKeyFile(t, "")
	target := Target{Host: "127.0.0.1", Port: closedPort(t), User: "u", KeyPath: keyPath, SSHConfigPath: os.DevNull}

	_, err := Dial(t.Context(), target, DialOptions{})
	if !errors.Is(err, ErrRefused) || !errors.Is(err, ErrNetwork) || !Retryable(err) {
		t.Fatalf("Dial = %v, want a retryable ErrRefused", err)
	}
	if e, ok := errors.AsType[*DialError](err); !ok || e.Stage != "connect" {
		t.Errorf("Dial = %#v, want a *DialError at connect", err)
	}
}

// TestDialHandshakeTimeout dials a server that accepts TCP and never
// answers: x/crypto's own Timeout would not cover this.
func TestDialHandshakeTimeout(t *testing.T) {
	keyPath, _ := newKeyFile(t, "")
	host, port := splitAddr(t, stalledListener(t))
	tests := []struct {
		name       string
		timeout    time.Duration
		ctxTimeout time.Duration
	}{
		{"ConnectTimeout", 300 * time.Millisecond, 0},
		{"ctx deadline earlier than ConnectTimeout", 30 * time.Second, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			target := Target{Host: host, Port: port, User: "u", KeyPath: keyPath, ConnectTimeout: tt.timeout, SSHConfigPath: os.DevNull}
			start := time.Now()
			_, err := Dial(ctx, target, DialOptions{})
			elapsed := time.Since(start)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Dial = %v, want ErrTimeout", err)
			}
			if e, ok := errors.AsType[*DialError](err); !ok || e.Stage != "handshake" {
				t.Errorf("Dial = %v, want a *DialError at handshake", err)
			}
			if elapsed < 250*time.Millisecond || elapsed > 3*time.Second {
				t.Errorf("Dial took %s, want about 300ms", elapsed)
			}
		})
	}
}

func TestDialCancelled(t *testing.T) {
	keyPath, _ := newKeyFile(t, "")
	host, port := splitAddr(t, stalledListener(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := Dial(ctx, Target{Host: host, Port: port, User: "u", KeyPath: keyPath, SSHConfigPath: os.DevNull}, DialOptions{})
	if !errors.Is(err, context.Canceled) || Retryable(err) {
		t.Errorf("Dial with a cancelled ctx = %v, want context.Canceled, not retryable", err)
	}
}

// connectTimeoutError returns the error net.Dialer gives when the deadline
// passes before the TCP connection is established.
func connectTimeoutError(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	var d net.Dialer
	_, err := d.DialContext(ctx, "tcp", "127.0.0.1:1")
	if got := classifyNetwork(err); got != ErrTimeout {
		t.Fatalf("classifyNetwork(%v) = %v, want ErrTimeout", err, got)
	}
	return err
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return tcp.IP.String(), tcp.Port
}
