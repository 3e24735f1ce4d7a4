// Package httpserver builds the HTTP servers of the queen and the hive
// agent with the limits a network of strangers calls for: a client gets a
// bounded time to send its request headers and body, a kept-alive
// connection that goes quiet is closed after IdleTimeout, and one remote
// address holds at most MaxConnsPerIP connections at once (more are closed
// as soon as they are accepted), so idle or slow clients from one address
// cannot use up the daemon's file descriptors and delay everyone else.
//
// Every request gets an id (the client's X-Request-ID when well formed,
// else a new one): it is on the answer's header, in the request's context
// ([RequestID]; [LogHandler] adds it to log lines logged with that
// context), and error writers put it in the error body. Refused requests
// (401, 403) are logged, rate-limited, with a fingerprint of the token
// they presented, never the token.
//
// There is no write timeout: install and spawn answer with event streams
// that last minutes. The entry point is [New].
package httpserver

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits are a server's timeouts and its connection cap. The zero value
// of a field means its default.
type Limits struct {
	// ReadHeaderTimeout bounds the wait for a request's headers, including
	// on a new connection that says nothing (default 10 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included
	// (default 60 s).
	ReadTimeout time.Duration
	// IdleTimeout closes a kept-alive connection with no request for that
	// long (default 60 s).
	IdleTimeout time.Duration
	// MaxConnsPerIP caps the open connections of one remote IP address
	// (default 128); connections over it are closed at once.
	MaxConnsPerIP int
	// Logger receives the refused-request lines; nil means slog.Default().
	Logger *slog.Logger
}

// Defaults of [Limits].
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxConnsPerIP     = 128
)

// withDefaults fills the zero fields of l.
func (l Limits) withDefaults() Limits {
	l.ReadHeaderTimeout = orDefault(l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	l.ReadTimeout = orDefault(l.ReadTimeout, DefaultReadTimeout)
	l.IdleTimeout = orDefault(l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxConnsPerIP <= 0 {
		l.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	return l
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Server is an http.Server with [Limits]; serve it with [Server.Serve].
type Server struct {
	*http.Server
	limits Limits
}

// New returns a server of handler with limits (zero fields take their
// defaults).
func New(handler http.Handler, limits Limits) *Server {
	l := limits.withDefaults()
	if l.Logger == nil {
		l.Logger = slog.Default()
	}
	handler = withRequestID(newRefusalLog(l.Logger).wrap(handler))
	return &Server{limits: l, Server: &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		IdleTimeout:       l.IdleTimeout,
	}}
}

// Serve serves ln, capping the connections of each remote IP address.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(&capListener{Listener: ln, max: s.limits.MaxConnsPerIP, open: map[string]int{}})
}

// capListener closes an accepted connection whose remote IP already holds
// max open ones. Connections without an IP (a Unix socket) are not capped.
type capListener struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[string]int
}

// Accept returns the next connection within the cap.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, ok := remoteIP(c)
		if !ok {
			return c, nil
		}
		if l.take(ip) {
			return &cappedConn{Conn: c, release: func() { l.give(ip) }}, nil
		}
		c.Close()
	}
}

func (l *capListener) take(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip] >= l.max {
		return false
	}
	l.open[ip]++
	return true
}

func (l *capListener) give(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// remoteIP returns the IP address of a TCP connection's peer.
func remoteIP(c net.Conn) (string, bool) {
	addr, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return "", false
	}
	return addr.IP.String(), true
}

// cappedConn gives its slot back once, on the first Close.
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
