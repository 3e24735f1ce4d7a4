// Package sshpool keeps one long-lived SSH connection per node for the
// queen. Every SSH operation on a node (preflight, install, hive start and
// stop, uninstall, token rotation) and the runtime traffic of the ssh
// transport (queen → agent and worker channels, the agent → queen remote
// forward) ride that one connection, so no operation pays a handshake
// while it is up.
//
// [Pool.Get] returns the node's connection, dialling it (with the retry
// policy of provision.DialWithRetry) when there is none; [Pool.Keep] makes
// one in the background, for the installed nodes at the queen's start.
// Connections pin the node's host key and send keepalives (provision.Dial),
// so a dead link is seen within a few keepalive intervals. After a drop the
// pool dials again by itself, waiting a backoff that doubles from
// Config.MinBackoff to Config.MaxBackoff with ±20 % jitter, until the node
// is removed ([Pool.Remove]) or the pool closed ([Pool.Close]). After every
// connect Config.OnConnect runs (in its own goroutine), which is where the
// queen sets up the node's remote forward again.
//
// [Pool.Dialer] is the one way to reach a port or socket on a node through
// its connection: the queen's HTTP clients to agents and workers (and the
// gateway) use it as their DialContext. [Pool.Status] says per node whether
// it is connected, since when, and the last error.
//
// A connection whose node changed how it is reached (host, port, user, key,
// pinned host key) is closed and dialled anew on the next Get.
package sshpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/shared/api"
)

// Defaults of the redial backoff.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// Config is what a Pool needs; the zero value works.
type Config struct {
	// Dial are the SSH dial options (logger, handshake counter,
	// keepalives) of every connection.
	Dial provision.DialOptions
	// Retry is the policy of a dial that an operation waits for (Get); the
	// zero value is provision's (3 attempts, 200 then 400 ms apart).
	// Background redials make one attempt each and back off themselves.
	Retry provision.RetryPolicy
	// MinBackoff and MaxBackoff bound the wait between background redials;
	// 0 means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// OnConnect, when set, runs in its own goroutine after each new
	// connection of a node, with a context that ends when the pool closes.
	OnConnect func(ctx context.Context, n api.Node, c *provision.Client)
	// Logger receives connect, drop and redial lines; nil discards them.
	Logger *slog.Logger
}

// Status is the state of one node's pooled connection.
type Status struct {
	// Node is the node's name.
	Node string
	// Connected says whether the connection is up.
	Connected bool
	// Since is when it connected, or when it dropped or last failed to
	// connect; zero when never tried.
	Since time.Time
	// LastError is why it dropped or failed to connect last; "" when the
	// last attempt worked.
	LastError string
}

// Pool holds one SSH connection per node. It is safe for concurrent use.
type Pool struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	nodes map[string]*entry
}

// entry is one node's slot in the pool.
type entry struct {
	name   string
	dialMu sync.Mutex // one dial of the node at a time

	mu        sync.Mutex
	node      api.Node
	client    *provision.Client
	hostKey   string // the key client presented
	since     time.Time
	lastErr   string
	removed   bool
	redialing bool
}

// New returns an empty pool.
func New(cfg Config) *Pool {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial.Logger == nil {
		cfg.Dial.Logger = cfg.Logger
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, nodes: map[string]*entry{}}
}

// ErrClosed is returned by a pool after Close.
var ErrClosed = errors.New("the queen's SSH pool is closed")

// entry returns the slot of name, made when missing; nil after Close.
func (p *Pool) entry(name string) *entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return nil
	}
	e := p.nodes[name]
	if e == nil {
		e = &entry{name: name}
		p.nodes[name] = e
	}
	return e
}

// Get returns n's connection, dialling it when there is none (or n is now
// reached another way). onAttempt, when set, is told of each failed
// attempt as provision.RetryPolicy.OnAttempt is. The connection belongs to
// the pool: callers never close it.
func (p *Pool) Get(ctx context.Context, n api.Node, onAttempt func(attempt, total int, err error, next time.Duration)) (*provision.Client, error) {
	e := p.entry(n.NodeName)
	if e == nil {
		return nil, ErrClosed
	}
	if c := e.current(n); c != nil {
		return c, nil
	}
	e.dialMu.Lock()
	defer e.dialMu.Unlock()
	if c := e.current(n); c != nil {
		return c, nil // dialled by someone else meanwhile
	}
	policy := p.cfg.Retry
	policy.OnAttempt = onAttempt
	c, err := provision.DialWithRetry(ctx, target(n), policy, p.cfg.Dial)
	if err != nil {
		e.failed(err)
		return nil, err
	}
	p.adopt(e, n, c)
	return c, nil
}

// Put hands the pool a connection to n made elsewhere (add-node's, made
// before n had a pinned host key); a connection n already had is closed.
func (p *Pool) Put(n api.Node, c *provision.Client) {
	e := p.entry(n.NodeName)
	if e == nil {
		c.Close()
		return
	}
	e.dialMu.Lock()
	defer e.dialMu.Unlock()
	p.adopt(e, n, c)
}

// Dialer returns the way to reach addresses on node n through its pooled
// connection, for an http.Transport's DialContext: network "tcp" opens a
// direct-tcpip channel to host:port as the node resolves it (e.g.
// 127.0.0.1:8081, a worker), "unix" a direct-streamlocal channel to a
// socket path on the node (the agent's socket). The connection is dialled
// when there is none. The gateway reaches workers this way.
func (p *Pool) Dialer(n api.Node) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := p.Get(ctx, n, nil)
		if err != nil {
			return nil, fmt.Errorf("SSH connection to %s: %w", n.NodeName, err)
		}
		return c.DialContext(ctx, network, addr)
	}
}

// Keep makes sure n has a connection, dialling it in the background (with
// the redial backoff) when it has none; the queen keeps its installed
// nodes so at start.
func (p *Pool) Keep(n api.Node) {
	e := p.entry(n.NodeName)
	if e == nil {
		return
	}
	e.mu.Lock()
	e.node = n
	e.mu.Unlock()
	if e.current(n) == nil {
		p.redial(e)
	}
}

// Remove closes n's connection, if any, and forgets the node: it is not
// dialled again.
func (p *Pool) Remove(name string) {
	p.mu.Lock()
	e := p.nodes[name]
	delete(p.nodes, name)
	p.mu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	e.removed = true
	c := e.client
	e.client = nil
	e.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Close closes every connection and stops every redial; it waits for the
// pool's goroutines (OnConnect hooks included) to end.
func (p *Pool) Close() {
	p.cancel()
	p.mu.Lock()
	names := make([]string, 0, len(p.nodes))
	for name := range p.nodes {
		names = append(names, name)
	}
	p.mu.Unlock()
	for _, name := range names {
		p.Remove(name)
	}
	p.wg.Wait()
}

// Status returns the state of name's connection; a node the pool never
// saw is not connected, with a zero Since.
func (p *Pool) Status(name string) Status {
	p.mu.Lock()
	e := p.nodes[name]
	p.mu.Unlock()
	if e == nil {
		return Status{Node: name}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return Status{Node: name, Connected: e.client != nil, Since: e.since, LastError: e.lastErr}
}

// Statuses returns the state of every node the pool holds, by name.
func (p *Pool) Statuses() []Status {
	p.mu.Lock()
	names := make([]string, 0, len(p.nodes))
	for name := range p.nodes {
		names = append(names, name)
	}
	p.mu.Unlock()
	sort.Strings(names)
	out := make([]Status, len(names))
	for i, name := range names {
		out[i] = p.Status(name)
	}
	return out
}

// current returns e's connection when it reaches n as n says; one that
// reaches an older n is closed.
func (e *entry) current(n api.Node) *provision.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client == nil {
		return nil
	}
	if sameTarget(e.node, n) && (n.HostKey == "" || n.HostKey == e.hostKey) {
		return e.client
	}
	c := e.client
	e.client, e.lastErr, e.since = nil, "closed: the node is now reached another way", time.Now()
	go c.Close()
	return nil
}

// sameTarget reports whether a and b are reached alike (the host key is
// compared against the connection's own).
func sameTarget(a, b api.Node) bool {
	return a.SSHHost == b.SSHHost && a.SSHPort == b.SSHPort && a.SSHUser == b.SSHUser && a.SSHKeyPath == b.SSHKeyPath
}

// failed records a failed dial.
func (e *entry) failed(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.since, e.lastErr = time.Now(), err.Error()
}

// adopt makes c e's connection, watches it for a drop and runs OnConnect.
// The caller holds e.dialMu.
func (p *Pool) adopt(e *entry, n api.Node, c *provision.Client) {
	e.mu.Lock()
	old := e.client
	e.node, e.client, e.hostKey = n, c, c.HostKey()
	e.since, e.lastErr = time.Now(), ""
	e.mu.Unlock()
	if old != nil && old != c {
		old.Close()
	}
	p.log.Debug("SSH connection up", "node", n.NodeName)
	p.wg.Go(func() { p.watch(e, c) })
	if p.cfg.OnConnect != nil {
		p.wg.Go(func() { p.cfg.OnConnect(p.ctx, n, c) })
	}
}

// watch waits for c to drop and then redials e, unless c was replaced, e
// removed or the pool closed.
func (p *Pool) watch(e *entry, c *provision.Client) {
	err := c.Wait()
	e.mu.Lock()
	if e.client != c {
		e.mu.Unlock()
		return
	}
	e.client, e.since = nil, time.Now()
	e.lastErr = "connection lost"
	if err != nil {
		e.lastErr = "connection lost: " + err.Error()
	}
	removed := e.removed
	e.mu.Unlock()
	c.Close()
	if removed || p.ctx.Err() != nil {
		return
	}
	p.log.Warn("SSH connection lost; dialling again", "node", e.name, "err", err)
	p.redial(e)
}

// redial starts the background redial of e unless one runs.
func (p *Pool) redial(e *entry) {
	e.mu.Lock()
	if e.redialing || e.removed {
		e.mu.Unlock()
		return
	}
	e.redialing = true
	e.mu.Unlock()
	p.wg.Go(func() {
		defer func() {
			e.mu.Lock()
			e.redialing = false
			e.mu.Unlock()
		}()
		p.redialLoop(e)
	})
}

// redialLoop dials e once per backoff step until it is connected (by this
// loop or an operation's Get), removed, or the pool closes.
func (p *Pool) redialLoop(e *entry) {
	wait := time.Duration(0)
	for {
		if !sleep(p.ctx, wait) {
			return
		}
		done, err := p.redialOnce(e)
		if done {
			return
		}
		wait = nextBackoff(wait, p.cfg.MinBackoff, p.cfg.MaxBackoff)
		p.log.Debug("SSH redial failed", "node", e.name, "err", err, "next", wait)
	}
}

// redialOnce makes one attempt; done says the loop may end.
func (p *Pool) redialOnce(e *entry) (done bool, err error) {
	e.dialMu.Lock()
	defer e.dialMu.Unlock()
	e.mu.Lock()
	n, up, removed := e.node, e.client != nil, e.removed
	e.mu.Unlock()
	if up || removed || p.ctx.Err() != nil {
		return true, nil
	}
	c, err := provision.Dial(p.ctx, target(n), p.cfg.Dial)
	if err != nil {
		e.failed(err)
		return false, err
	}
	p.log.Info("SSH connection re-established", "node", n.NodeName)
	p.adopt(e, n, c)
	return true, nil
}

// nextBackoff doubles prev within [lo, hi], with ±20 % jitter.
func nextBackoff(prev, lo, hi time.Duration) time.Duration {
	d := min(max(prev*2, lo), hi)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// target is how to reach n over SSH.
func target(n api.Node) provision.Target {
	return provision.Target{Host: n.SSHHost, Port: n.SSHPort, User: n.SSHUser, KeyPath: n.SSHKeyPath,
		HostKey: n.HostKey, ConnectTimeout: time.Duration(api.DefaultConnectTimeoutMS) * time.Millisecond}
}
