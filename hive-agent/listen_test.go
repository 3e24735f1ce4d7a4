package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestListenAPISocket checks the agent's Unix socket of the ssh
// transport: mode 0600 (no other local user may connect), a socket left by
// a dead agent is replaced, one that still answers is not, and a file that
// is not a socket is never removed.
func TestListenAPISocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "hive-agent.sock")

	ln, err := listenAPI(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %v, want 0600", perm)
	}
	if _, err := listenAPI(sock); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second listen on a live socket: %v, want EADDRINUSE", err)
	}

	// A dead agent's socket: the file stays, nobody answers.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket not left for the test: %v", err)
	}
	ln2, err := listenAPI(sock)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	ln2.Close()

	plain := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(plain, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listenAPI(plain); err == nil {
		t.Error("listen replaced a regular file")
	}
	if data, _ := os.ReadFile(plain); string(data) != "keep" {
		t.Errorf("regular file now holds %q", data)
	}
}
