package provision

import (
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Client is an authenticated connection to a node. Every command is its own
// session on it; SFTP shares it. A Client is safe for concurrent use.
type Client struct {
	conn    *ssh.Client
	jumps   []*ssh.Client
	dest    Endpoint
	hostKey ssh.PublicKey
	log     *slog.Logger

	stopKeepalive chan struct{}
	closeOnce     sync.Once

	mu       sync.Mutex
	lostWhy  error // why the connection was closed from our side, if it was
	sftp     *sftp.Client
	home     string
	homeDone bool
}

func newClient(conn *ssh.Client, jumps []*ssh.Client, dest Endpoint, hostKey ssh.PublicKey, opts DialOptions) *Client {
	c := &Client{conn: conn, jumps: jumps, dest: dest, hostKey: hostKey,
		log: opts.Logger.With("host", dest.String()), stopKeepalive: make(chan struct{})}
	if opts.KeepaliveInterval > 0 {
		go keepalive(conn, opts.KeepaliveInterval, opts.KeepaliveMaxMissed, c.stopKeepalive, c.dead)
	}
	return c
}

// Endpoint returns the node this client is connected to.
func (c *Client) Endpoint() Endpoint { return c.dest }

// HostKey returns the node's host key in authorized_keys format, as it was
// presented at the handshake: the key to pin after trust on first use.
func (c *Client) HostKey() string { return MarshalHostKey(c.hostKey) }

// HostKeyFingerprint returns the SHA256 fingerprint of [Client.HostKey].
func (c *Client) HostKeyFingerprint() string { return Fingerprint(c.hostKey) }

// Wait blocks until the connection is closed, by [Client.Close], by the
// server or by missed keepalives, and returns the reason.
func (c *Client) Wait() error {
	err := c.conn.Wait()
	if why := c.lostReason(); why != nil {
		return why
	}
	return err
}

// Close closes the SFTP client, the connection and the jump hosts' connections.
func (c *Client) Close() error {
	var errs []error
	c.closeOnce.Do(func() {
		close(c.stopKeepalive)
		c.mu.Lock()
		if c.sftp != nil {
			errs = append(errs, c.sftp.Close())
		}
		c.mu.Unlock()
		errs = append(errs, c.conn.Close())
		for i := len(c.jumps) - 1; i >= 0; i-- {
			errs = append(errs, c.jumps[i].Close())
		}
	})
	for i, err := range errs {
		if errors.Is(err, net.ErrClosed) {
			errs[i] = nil
		}
	}
	return errors.Join(errs...)
}

// dead closes a connection that stopped answering keepalives.
func (c *Client) dead(why error) {
	c.log.Warn("closing unresponsive SSH connection", "err", why)
	c.mu.Lock()
	c.lostWhy = why
	c.mu.Unlock()
	c.conn.Close()
}

func (c *Client) lostReason() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostWhy
}
