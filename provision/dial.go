package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// DialOptions are the caller's hooks and the local environment for [Dial].
// The zero value is ready to use.
type DialOptions struct {
	// Logger receives debug lines for commands and warnings about trusted
	// keys; nil discards them.
	Logger *slog.Logger
	// OnHandshake is called after each completed SSH handshake, jump hosts
	// included, so callers can count connections.
	OnHandshake func(Endpoint)
	// KeepaliveInterval is the time between keepalive requests; 0 means 5s,
	// a negative value turns keepalives off.
	KeepaliveInterval time.Duration
	// KeepaliveMaxMissed is how many keepalive intervals in a row may pass
	// without a reply before the connection is closed; 0 means 3.
	KeepaliveMaxMissed int
	// KnownHostsPath verifies jump hosts; "" means ~/.ssh/known_hosts.
	KnownHostsPath string
	// AgentSocket is the ssh-agent socket; "" means $SSH_AUTH_SOCK.
	AgentSocket string
}

func (o DialOptions) withDefaults() DialOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.KeepaliveInterval == 0 {
		o.KeepaliveInterval = 5 * time.Second
	}
	if o.KeepaliveMaxMissed <= 0 {
		o.KeepaliveMaxMissed = 3
	}
	if o.AgentSocket == "" {
		o.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	return o
}

// Dial resolves t (see [Resolve]), connects to the node through its jump
// hosts and authenticates. One deadline, the earlier of ctx's and
// t.ConnectTimeout from now, bounds every TCP connect and SSH handshake on
// the way. The node's host key is checked against t.HostKey or
// t.ExpectFingerprint, or trusted on first use; [Client.HostKey] returns it.
//
// The node authenticates with its key file, else with the keys in ssh-agent.
// A jump host uses its own IdentityFile from the ssh config, else the agent,
// else the node's key file; its host key is checked against known_hosts (see
// DialOptions.KnownHostsPath) and trusted on first use, with a warning in
// the log, when known_hosts does not list it.
//
// Errors are a [*DialError] (network; see [Retryable]), an [*AuthError], a
// [*HostKeyMismatchError], or wrap [ErrNoCredentials] or [ErrInvalidTarget].
func Dial(ctx context.Context, t Target, opts DialOptions) (*Client, error) {
	opts = opts.withDefaults()
	route, err := Resolve(t)
	if err != nil {
		return nil, err
	}
	nodeKeys, err := nodeHostKeyCheck(t, opts.Logger)
	if err != nil {
		return nil, err
	}
	d := newDialer(ctx, t.ConnectTimeout, opts)
	defer d.creds.close()

	jumps, err := d.jumps(route)
	if err != nil {
		return nil, err
	}
	conn, err := d.connect(lastOf(jumps), route.Dest, false, route.Dest.KeyPath, nodeKeys)
	if err != nil {
		closeAll(jumps)
		return nil, err
	}
	key, _ := nodeKeys.result()
	return newClient(conn, jumps, route.Dest, key, opts), nil
}

// dialer carries what the steps of one Dial share.
type dialer struct {
	ctx      context.Context
	timeout  time.Duration // from the start of the dial to deadline
	deadline time.Time
	opts     DialOptions
	creds    *credentials
}

func newDialer(ctx context.Context, timeout time.Duration, opts DialOptions) *dialer {
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	now := time.Now()
	deadline := now.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, timeout = d, d.Sub(now)
	}
	return &dialer{ctx: ctx, timeout: timeout, deadline: deadline, opts: opts,
		creds: &credentials{agentSocket: opts.AgentSocket}}
}

// jumps connects to each jump host of route through the previous one.
func (d *dialer) jumps(route Route) ([]*ssh.Client, error) {
	if len(route.Jumps) == 0 {
		return nil, nil
	}
	hostKeys, err := newJumpHostKeys(d.opts.KnownHostsPath, d.opts.Logger)
	if err != nil {
		return nil, err
	}
	var clients []*ssh.Client
	for _, hop := range route.Jumps {
		c, err := d.connect(lastOf(clients), hop, true, route.Dest.KeyPath, hostKeys.check(hop.Addr()))
		if err != nil {
			closeAll(clients)
			return nil, err
		}
		clients = append(clients, c)
	}
	return clients, nil
}

// connect opens a TCP connection to ep, directly or through via, and runs
// the SSH handshake on it.
func (d *dialer) connect(via *ssh.Client, ep Endpoint, jump bool, fallbackKey string, keys *hostKeyCheck) (*ssh.Client, error) {
	auth, source, err := d.creds.method(ep, fallbackKey)
	if err != nil {
		return nil, err
	}
	conn, err := d.dialTCP(via, ep)
	if err != nil {
		return nil, &DialError{Dest: ep, Jump: jump, Stage: "connect", Class: d.classify(err), Err: err}
	}
	cfg := &ssh.ClientConfig{
		User:              ep.User,
		Auth:              []ssh.AuthMethod{auth},
		HostKeyCallback:   keys.callback,
		HostKeyAlgorithms: keys.algos,
	}
	client, err := d.handshake(conn, ep, cfg)
	if err != nil {
		return nil, d.handshakeError(err, ep, jump, source, keys)
	}
	if d.opts.OnHandshake != nil {
		d.opts.OnHandshake(ep)
	}
	return client, nil
}

func (d *dialer) dialTCP(via *ssh.Client, ep Endpoint) (net.Conn, error) {
	ctx, cancel := context.WithDeadline(d.ctx, d.deadline)
	defer cancel()
	if via != nil {
		return via.DialContext(ctx, "tcp", ep.Addr())
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", ep.Addr())
}

// errHandshakeTimeout stands for a handshake cut off at the deadline.
type errHandshakeTimeout struct{ timeout time.Duration }

func (e *errHandshakeTimeout) Error() string {
	return fmt.Sprintf("connect and SSH handshake did not finish within %s", e.timeout.Round(time.Millisecond))
}

// handshake runs the SSH handshake on conn before the deadline. x/crypto's
// ClientConfig.Timeout covers only its own TCP connect, so the deadline is
// set on conn and cleared afterwards; conns through a jump host do not
// support deadlines, so a timer (and ctx) also close conn.
func (d *dialer) handshake(conn net.Conn, ep Endpoint, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	_ = conn.SetDeadline(d.deadline)
	timer := time.AfterFunc(time.Until(d.deadline), func() { conn.Close() })
	stopCtx := context.AfterFunc(d.ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, ep.Addr(), cfg)
	inTime := timer.Stop()
	notCancelled := stopCtx()
	if err == nil && !(inTime && notCancelled) {
		c.Close()
		err = net.ErrClosed
	}
	switch {
	case err == nil:
	case !inTime:
		return nil, &errHandshakeTimeout{d.timeout}
	case !notCancelled:
		return nil, fmt.Errorf("handshake interrupted: %w", context.Cause(d.ctx))
	default:
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// handshakeError turns a failed handshake into the error callers branch on.
func (d *dialer) handshakeError(err error, ep Endpoint, jump bool, source authSource, keys *hostKeyCheck) error {
	if _, rejected := keys.result(); rejected != nil {
		if jump {
			return fmt.Errorf("ssh handshake with jump host %s: %w", ep, rejected)
		}
		return fmt.Errorf("ssh handshake with %s: %w", ep, rejected)
	}
	if isAuthError(err) {
		return &AuthError{Dest: ep, KeyPath: source.keyPath, Agent: source.agent, Err: err}
	}
	return &DialError{Dest: ep, Jump: jump, Stage: "handshake", Class: d.classify(err), Err: err}
}

// isAuthError reports whether err is x/crypto's authentication failure. It
// has no type; client_auth.go in golang.org/x/crypto/ssh builds it as
//
//	"ssh: unable to authenticate, attempted methods %v, no supported methods remain"
func isAuthError(err error) bool {
	return strings.Contains(err.Error(), "ssh: unable to authenticate")
}

// classify returns the class of a network failure, or nil for one that is
// not worth retrying. A cancelled ctx is not a network failure.
func (d *dialer) classify(err error) error {
	if errors.Is(d.ctx.Err(), context.Canceled) {
		return nil
	}
	return classifyNetwork(err)
}

// classifyNetwork returns ErrTimeout, ErrRefused, ErrNetwork or
// ErrUnknownHost for the network failures it knows, nil otherwise.
func classifyNetwork(err error) error {
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
		return ErrUnknownHost
	}
	if netErr, ok := errors.AsType[net.Error](err); ok && netErr.Timeout() {
		return ErrTimeout
	}
	if chanErr, ok := errors.AsType[*ssh.OpenChannelError](err); ok && chanErr.Reason == ssh.ConnectionFailed {
		return ErrNetwork // a jump host could not reach the next host
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case errors.As(err, new(*errHandshakeTimeout)):
		return ErrTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrNetwork
	}
	return nil
}

func lastOf(clients []*ssh.Client) *ssh.Client {
	if len(clients) == 0 {
		return nil
	}
	return clients[len(clients)-1]
}

// closeAll closes clients, the last one first.
func closeAll(clients []*ssh.Client) {
	for i := len(clients) - 1; i >= 0; i-- {
		clients[i].Close()
	}
}
