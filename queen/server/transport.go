package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/queen/sshpool"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/httpserver"
)

// newPool returns the queen's SSH pool: every connection counts its
// handshake for /metrics and, once up, gets its node's remote forward back.
func (s *Server) newPool() *sshpool.Pool {
	return sshpool.New(sshpool.Config{
		Dial:      provision.DialOptions{Logger: s.log, OnHandshake: func(provision.Endpoint) { s.handshakes.Add(1) }},
		Retry:     s.cfg.Retry,
		OnConnect: s.onConnect,
		Logger:    s.log,
	})
}

// Pool returns the queen's SSH connection pool.
func (s *Server) Pool() *sshpool.Pool { return s.pool }

// NodeDialer returns how the queen reaches addresses on node name: through
// its pooled SSH connection under the ssh transport (see
// [sshpool.Pool.Dialer]; "tcp" 127.0.0.1:8081 is a worker on the node),
// directly over the network under http. The gateway dials workers so.
func (s *Server) NodeDialer(ctx context.Context, name string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	n, err := s.cfg.Registry.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("look up node %s: %w", name, err)
	}
	if n.Transport == api.TransportHTTP {
		d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		return d.DialContext, nil
	}
	return s.pool.Dialer(n), nil
}

// onConnect gives a node of the ssh transport whose agent is installed its
// remote forward back, after each (re)connect of the pool.
func (s *Server) onConnect(ctx context.Context, n api.Node, c *provision.Client) {
	n, err := s.cfg.Registry.Get(ctx, n.NodeName)
	if err != nil || n.Transport == api.TransportHTTP || n.AgentURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.forwards.ensure(ctx, s, n, c, false); err != nil {
		s.log.Warn("remote forward to the queen not set up; the agent cannot beat until it is", "node", n.NodeName, "err", err)
	}
}

// ensureForward is install's hook: the forward, with its run/ folder made.
func (s *Server) ensureForward(ctx context.Context, n api.Node, c *provision.Client) error {
	return s.forwards.ensure(ctx, s, n, c, true)
}

// forwards are the remote forwards the queen serves its API on, one per
// node of the ssh transport: the agent's queen URL points at them. mu
// guards the maps only; setting up a node's forward (a round trip to the
// node) holds that node's lock, so the nodes of a large install set theirs
// up side by side.
type forwards struct {
	mu     sync.Mutex
	nodes  map[string]*forward
	locks  map[string]*sync.Mutex // per node: one ensure or drop at a time
	closed bool
}

// forward is one node's remote forward and the server on it.
type forward struct {
	client *provision.Client
	ln     net.Listener
	srv    *httpserver.Server
}

// forwardScript prepares the forward's socket path: with $3 = yes it makes
// the run folder $1 (mode 700); a missing folder otherwise means no agent
// is installed (prints none=yes). A socket file left from an earlier
// connection ($2) is removed: sshd does not replace it.
const forwardScript = `d=$1 s=$2
if [ ! -d "$d" ]; then
  if [ "$3" != yes ]; then echo none=yes; exit 0; fi
  mkdir -p "$d" && chmod 700 "$d"
fi
if [ -n "$s" ]; then rm -f -- "$s"; fi`

// nodeLock returns node's lock, made on first use.
func (f *forwards) nodeLock(node string) *sync.Mutex {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.locks == nil {
		f.locks = map[string]*sync.Mutex{}
	}
	l := f.locks[node]
	if l == nil {
		l = &sync.Mutex{}
		f.locks[node] = l
	}
	return l
}

// current returns node's forward when it rides connection c; one on an
// older connection is closed and forgotten.
func (f *forwards) current(node string, c *provision.Client) *forward {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.nodes[node]
	if cur == nil || cur.client == c {
		return cur
	}
	cur.close()
	delete(f.nodes, node)
	return nil
}

// ensure makes sure the queen's API is served on n's remote forward over
// connection c; a forward on an older connection is replaced.
func (f *forwards) ensure(ctx context.Context, s *Server, n api.Node, c *provision.Client, create bool) error {
	l := f.nodeLock(n.NodeName)
	l.Lock()
	defer l.Unlock()
	if f.current(n.NodeName, c) != nil {
		return nil
	}
	return f.open(ctx, s, n, c, create)
}

// open sets up n's remote forward over c and serves the queen's API on it.
// The caller holds n's lock.
func (f *forwards) open(ctx context.Context, s *Server, n api.Node, c *provision.Client, create bool) error {
	e := install.SSHEndpoints(n)
	sock := ""
	if e.QueenNetwork == "unix" {
		sock = e.QueenAddr
	}
	out, err := c.Run(ctx, provision.Command("sh", "-c", forwardScript, "sh", n.InstallPath+"/run", sock, yesNo(create)))
	if err != nil {
		return fmt.Errorf("prepare the forward's socket on %s: %w", n.NodeName, err)
	}
	if keyValue(string(out), "none") == "yes" {
		return nil
	}
	ln, err := c.Listen(e.QueenNetwork, e.QueenAddr)
	if err != nil {
		return err
	}
	srv := httpserver.New(s.handler, httpserver.Limits{Logger: s.log})
	fw := &forward{client: c, ln: ln, srv: srv}
	if !f.add(n.NodeName, fw) {
		fw.close()
		return nil // the queen is stopping
	}
	go func() { _ = srv.Serve(ln) }()
	s.log.Info("remote forward to the queen is up", "node", n.NodeName, "addr", e.QueenAddr)
	return nil
}

// add records fw as node's forward; false after closeAll.
func (f *forwards) add(node string, fw *forward) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.nodes[node] = fw
	return true
}

// drop closes node's forward, if any (uninstall, remove-node), after any
// setup of it in flight.
func (f *forwards) drop(node string) {
	l := f.nodeLock(node)
	l.Lock()
	defer l.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur := f.nodes[node]; cur != nil {
		cur.close()
		delete(f.nodes, node)
	}
}

// closeAll closes every forward (the queen stops); none is added after.
func (f *forwards) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for name, cur := range f.nodes {
		cur.close()
		delete(f.nodes, name)
	}
}

func (fw *forward) close() {
	fw.ln.Close()
	fw.srv.Close()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// keyValue returns the value of key in key=value lines.
func keyValue(out, key string) string {
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			return v
		}
	}
	return ""
}

// agentClient returns the HTTP client the queen calls n's agent with:
// under the ssh transport one whose every connection is a channel of the
// node's pooled SSH connection to the agent's socket (or loopback port),
// else the direct one.
func (s *Server) agentClient(n api.Node) *http.Client {
	if n.Transport == api.TransportHTTP {
		return s.agentHTTP
	}
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	key := n.NodeName + "\x00" + n.AgentURL
	if c := s.agentClients[key]; c != nil {
		return c
	}
	network, addr := install.DialTarget(n.AgentURL)
	dial := s.pool.Dialer(n)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				// A dial error: nothing was sent (see isDialError).
				return nil, &net.OpError{Op: "dial", Net: network, Err: err}
			}
			return conn, nil
		},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     60 * time.Second,
	}
	c := &http.Client{Transport: tr}
	s.agentClients[key] = c
	return c
}

// agentBase is the base URL requests to n's agent are made with: a
// unix:// agent URL is reached through its dialer whatever the URL's host.
func agentBase(n api.Node) string {
	if network, _ := install.DialTarget(n.AgentURL); network == "unix" {
		return "http://hive-agent"
	}
	return n.AgentURL
}

// connection returns the state of n's pooled SSH connection.
func (s *Server) connection(name string) api.SSHConnection {
	st := s.pool.Status(name)
	c := api.SSHConnection{Connected: st.Connected, LastError: st.LastError}
	if !st.Since.IsZero() {
		c.SinceUnix = st.Since.Unix()
	}
	return c
}

// keepInstalled has the pool connect every installed node at the queen's
// start, so the agents' forwards come back without waiting for an
// operation.
func (s *Server) keepInstalled(ctx context.Context) {
	nodes, err := s.cfg.Registry.List(ctx)
	if err != nil {
		s.log.Warn("list nodes to connect at start", "err", err)
		return
	}
	for _, n := range nodes {
		if n.AgentURL != "" {
			s.pool.Keep(n)
		}
	}
}
