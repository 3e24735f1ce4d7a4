package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestRunArgsRoundTrip sends every hostile value through Command, the SSH
// exec request and the server's /bin/sh.
func TestRunArgsRoundTrip(t *testing.T) {
	c, _ := connect(t, DialOptions{})
	var args []string
	for _, tt := range hostileArgs {
		args = append(args, tt.arg)
	}
	out, err := c.RunArgs(t.Context(), "printf", append([]string{`%s\0`}, args...)...)
	if err != nil {
		t.Fatalf("RunArgs: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !slices.Equal(got, args) {
		t.Errorf("remote printf received\n%q\nwant\n%q", got, args)
	}
}

func TestRunExitError(t *testing.T) {
	c, _ := connect(t, DialOptions{})
	tests := []struct {
		name       string
		cmd        string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"exit code and stderr", Shell(Raw("echo partial; echo 'no such unit' >&2; exit 3")), 3, "partial\n", "no such unit\n"},
		{"command not found", Command("rbee-no-such-command", "--version"), 127, "", "not found"},
		{"false", Command("false"), 1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.Run(t.Context(), tt.cmd)
			exitErr, ok := errors.AsType[*ExitError](err)
			if !ok {
				t.Fatalf("Run = %v, want an *ExitError", err)
			}
			if exitErr.Code != tt.wantCode || exitErr.Cmd != tt.cmd || string(out) != tt.wantStdout {
				t.Errorf("Run = %q, code %d for %q; want %q, code %d", out, exitErr.Code, exitErr.Cmd, tt.wantStdout, tt.wantCode)
			}
			if !strings.Contains(string(StderrOf(err)), tt.wantStderr) || !strings.Contains(err.Error(), strings.TrimSpace(tt.wantStderr)) {
				t.Errorf("stderr %q, message %q; want both to contain %q", StderrOf(err), err, tt.wantStderr)
			}
			if errors.Is(err, ErrConnectionLost) {
				t.Errorf("Run = %v: an exit status is not a lost connection", err)
			}
		})
	}
	if out, err := c.Run(t.Context(), Command("echo", "still usable")); err != nil || string(out) != "still usable\n" {
		t.Errorf("Run after failures = %q, %v", out, err)
	}
}

// TestRunCancel cancels ctx while a long command runs: Run returns at once
// and the command is killed.
func TestRunCancel(t *testing.T) {
	c, srv := connect(t, DialOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-srv.execs // the command has started
		cancel()
	}()

	start := time.Now()
	_, err := c.Run(ctx, Command("sleep", "30"))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second {
		t.Fatalf("Run = %v after %s, want context.Canceled at once", err, time.Since(start))
	}
	if out, err := c.Run(t.Context(), Command("echo", "next")); err != nil || string(out) != "next\n" {
		t.Errorf("Run after a cancelled one = %q, %v; want the connection still usable", out, err)
	}
	if _, err := c.Run(ctx, Command("echo", "never")); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a done ctx = %v, want context.Canceled", err)
	}
}

// TestRunConnectionLost drops the connection while a command runs.
func TestRunConnectionLost(t *testing.T) {
	keyPath, pub := newKeyFile(t, "")
	srv := startServer(t, []ssh.PublicKey{pub})
	p := startProxy(t, srv.addr())
	target := srv.target(keyPath)
	target.Port = p.port()
	c := dial(t, target, DialOptions{KeepaliveInterval: -1})
	go func() {
		<-srv.execs
		p.cut()
	}()

	_, err := c.Run(t.Context(), Command("sleep", "30"))
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Run = %v, want ErrConnectionLost", err)
	}
	if _, ok := errors.AsType[*ExitError](err); ok {
		t.Errorf("Run = %v, want no *ExitError for a lost connection", err)
	}
	if _, err := c.Run(t.Context(), Command("true")); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Run after the loss = %v, want ErrConnectionLost", err)
	}
}

// TestKeepaliveDetectsPartition stops all traffic: the client must notice
// within a few keepalive intervals and close the connection.
func TestKeepaliveDetectsPartition(t *testing.T) {
	keyPath, pub := newKeyFile(t, "")
	srv := startServer(t, []ssh.PublicKey{pub})
	p := startProxy(t, srv.addr())
	target := srv.target(keyPath)
	target.Port = p.port()
	c := dial(t, target, DialOptions{KeepaliveInterval: 50 * time.Millisecond, KeepaliveMaxMissed: 3})
	<-srv.keepalives // keepalives flow before the partition
	p.pause()

	closed := make(chan error, 1)
	go func() { closed <- c.Wait() }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "keepalive") {
			t.Errorf("Wait = %v, want the keepalive verdict", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open 5s into a partition, want it closed after about 150ms")
	}
	if _, err := c.Run(t.Context(), Command("true")); !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "keepalive") {
		t.Errorf("Run after the partition = %v, want ErrConnectionLost citing keepalives", err)
	}
}

func TestKeepaliveKeepsHealthyConnection(t *testing.T) {
	c, srv := connect(t, DialOptions{KeepaliveInterval: 20 * time.Millisecond, KeepaliveMaxMissed: 10})
	for range 5 {
		select {
		case <-srv.keepalives:
		case <-time.After(5 * time.Second):
			t.Fatal("server got no keepalive within 5s")
		}
	}
	if out, err := c.Run(t.Context(), Command("echo", "alive")); err != nil || string(out) != "alive\n" {
		t.Errorf("Run after keepalives = %q, %v; want the connection open", out, err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	c, srv := connect(t, DialOptions{})
	dir := filepath.Join(srv.home, "etc dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		data string
		mode os.FileMode
	}{
		{"new file", "hive.toml", "name = \"gpu-3\"\n", 0o640},
		{"replace existing", "hive.toml", "name = \"gpu-4\"\n", 0o600},
		{"executable with quote in name", "it's-run.sh", "#!/bin/sh\necho hi\n", 0o755},
		{"empty", "empty", "", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if err := c.WriteFileAtomic(t.Context(), path, []byte(tt.data), tt.mode); err != nil {
				t.Fatalf("WriteFileAtomic: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tt.data {
				t.Errorf("file holds %q (%v), want %q", got, err, tt.data)
			}
			if info, err := os.Stat(path); err != nil {
				t.Errorf("stat %s: %v", path, err)
			} else if info.Mode().Perm() != tt.mode {
				t.Errorf("mode %v, want %v", info.Mode().Perm(), tt.mode)
			}
			assertNoTempFiles(t, dir)
		})
	}
}

func TestWriteFileAtomicFailures(t *testing.T) {
	c, srv := connect(t, DialOptions{})
	occupied := filepath.Join(srv.home, "occupied")
	if err := os.MkdirAll(filepath.Join(occupied, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		path string
	}{
		{"target is a non-empty directory", t.Context(), occupied},
		{"directory missing", t.Context(), filepath.Join(srv.home, "missing", "f")},
		{"ctx done", cancelled, filepath.Join(srv.home, "f")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.WriteFileAtomic(tt.ctx, tt.path, []byte("data"), 0o644)
			if err == nil || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("WriteFileAtomic = %v, want an error naming %s", err, tt.path)
			}
			assertNoTempFiles(t, srv.home)
		})
	}
	if _, err := os.Stat(filepath.Join(srv.home, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written although ctx was done: %v", err)
	}
}

func TestSFTPIsShared(t *testing.T) {
	c, _ := connect(t, DialOptions{})
	a, err := c.SFTP()
	if err != nil {
		t.Fatalf("SFTP: %v", err)
	}
	b, err := c.SFTP()
	if err != nil || a != b {
		t.Errorf("second SFTP() = %p, %v; want the same client %p", b, err, a)
	}
}

func TestExpandHome(t *testing.T) {
	c, srv := connect(t, DialOptions{})
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "~", want: srv.home},
		{in: "~/", want: srv.home},
		{in: "~/.rbee/hive.toml", want: srv.home + "/.rbee/hive.toml"},
		{in: "/opt/rbee", want: "/opt/rbee"},
		{in: "models", want: "models"},
		{in: "~bob/x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := c.ExpandHome(t.Context(), tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ExpandHome(%q) = %q, %v; want %q (error: %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	home, err := c.RemoteHome(t.Context())
	if err != nil || home != srv.home {
		t.Errorf("RemoteHome = %q, %v; want %q", home, err, srv.home)
	}
}

func TestClose(t *testing.T) {
	c, _ := connect(t, DialOptions{})
	if _, err := c.SFTP(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := c.Run(t.Context(), Command("true")); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Run after Close = %v, want ErrConnectionLost", err)
	}
}

// connect starts a server and dials it with a fresh key.
func connect(t *testing.T, opts DialOptions) (*Client, *testServer) {
	t.Helper()
	keyPath, pub := newKeyFile(t, "")
	srv := startServer(t, []ssh.PublicKey{pub})
	return dial(t, srv.target(keyPath), opts), srv
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err == nil && strings.Contains(filepath.Base(path), ".tmp-") {
			t.Errorf("temp file left behind: %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
