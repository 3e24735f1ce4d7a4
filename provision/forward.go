package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ErrForwardingRefused marks a channel or forward that the node's sshd
// refused by its configuration (administratively prohibited), as opposed to
// a target that could not be reached.
var ErrForwardingRefused = errors.New("the node's sshd refuses forwarding")

// DialContext opens a connection from the node to addr over this client's
// SSH connection: network "tcp" is a direct-tcpip channel (addr is
// host:port as the node resolves it), "unix" a direct-streamlocal channel
// (addr is a socket path on the node). No handshake is made: the channel
// rides the connection the client already has. A channel the node's sshd
// refuses by its configuration wraps [ErrForwardingRefused].
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.conn.DialContext(ctx, network, addr)
	if err == nil {
		return conn, nil
	}
	if oe, ok := errors.AsType[*ssh.OpenChannelError](err); ok && oe.Reason == ssh.Prohibited {
		return nil, fmt.Errorf("open a %s channel to %s on %s: %w (%s)", network, addr, c.dest, ErrForwardingRefused, oe.Message)
	}
	return nil, fmt.Errorf("open a %s channel to %s on %s: %w", network, addr, c.dest, err)
}

// Listen asks the node's sshd to listen on addr and forward every
// connection to it back over this client's SSH connection: network "unix"
// is a streamlocal-forward (addr is a socket path on the node; OpenSSH
// creates it with mode 0600 and does not replace a file already there),
// "tcp" a tcpip-forward (addr is host:port on the node). The listener ends
// when it is closed or the connection drops. A refused request wraps
// [ErrForwardingRefused]: sshd answers every refusal alike, whether its
// configuration forbids it or the address is taken.
func (c *Client) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	var err error
	switch network {
	case "unix":
		ln, err = c.conn.ListenUnix(addr)
	case "tcp":
		ln, err = c.conn.Listen("tcp", addr)
	default:
		return nil, fmt.Errorf("listen on %s: network %q is neither unix nor tcp", addr, network)
	}
	if err != nil {
		if isRequestDenied(err) {
			return nil, fmt.Errorf("ask %s to forward %s %s back to the queen: %w", c.dest, network, addr, ErrForwardingRefused)
		}
		return nil, fmt.Errorf("ask %s to forward %s %s back to the queen: %w", c.dest, network, addr, err)
	}
	return ln, nil
}

// isRequestDenied reports whether err is x/crypto's refusal of a forward
// request. It has no type; tcpip.go and streamlocal.go in
// golang.org/x/crypto/ssh build it as "ssh: tcpip-forward request denied by
// peer" and "ssh: streamlocal-forward@openssh.com request denied by peer".
func isRequestDenied(err error) bool {
	return strings.Contains(err.Error(), "request denied by peer")
}
