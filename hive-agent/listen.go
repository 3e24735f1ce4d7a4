package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// isSocketPath reports whether a config's listen value names a Unix
// socket (an absolute path) rather than host:port.
func isSocketPath(listen string) bool { return strings.HasPrefix(listen, "/") }

// listenAPI listens on the config's address: host:port over TCP, or a Unix
// socket of mode 0600 (the ssh transport: only this user, and the queen
// through this user's sshd, may open it). A socket file left by an agent
// that is gone is replaced; one that still answers is not.
func listenAPI(listen string) (net.Listener, error) {
	if !isSocketPath(listen) {
		return net.Listen("tcp", listen)
	}
	if err := removeStaleSocket(listen); err != nil {
		return nil, err
	}
	old := syscall.Umask(0o177) // the socket is made 0600 from the start
	ln, err := net.Listen("unix", listen)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

// removeStaleSocket removes the socket at path when nothing answers on it.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: %w (another agent answers on it)", path, syscall.EADDRINUSE)
	}
	return os.Remove(path)
}

// callbackListener is where workers send their ready callback when the
// API listens on a Unix socket: loopback TCP on a port the OS picks, for
// the ready route only (it checks each worker's own token).
func callbackListener() (net.Listener, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}

// readyOnly passes the ready callback to h and answers 404 to anything
// else.
func readyOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/workers/ready" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
