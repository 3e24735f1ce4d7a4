package install

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/rbee-fleet/rbee/provision"
)

// SSHDConfigHint is what to change on a node whose sshd refuses the
// forwarding the ssh transport needs.
const SSHDConfigHint = "in the node's /etc/ssh/sshd_config set `AllowTcpForwarding yes` and `AllowStreamLocalForwarding yes`, " +
	"and remove `DisableForwarding yes` (also from any Match block for this user), then reload sshd " +
	"(`sudo systemctl reload ssh`); or use the direct path with `queen setup update-node --name NODE --transport http`"

// CheckForwarding tries on connection c what the ssh transport needs of
// the node's sshd and returns one line per refusal, naming the
// sshd_config setting: direct-tcpip channels (the queen to workers on the
// node's loopback; AllowTcpForwarding), streamlocal forwards (the agent to
// the queen) and direct-streamlocal channels (the queen to the agent's
// socket; both AllowStreamLocalForwarding). DisableForwarding yes refuses
// all of them, and OpenSSH's AllowTcpForwarding no refuses Unix socket
// forwarding too. A probe that fails for another reason is not a refusal.
//
// OpenSSH answers a refused direct-streamlocal channel as it answers a
// socket that is missing ("open failed"), so that channel is tried
// against the socket of the probe's own remote forward, which exists; when
// the remote forward is refused, it is not tried (the same setting lets
// both through, and the transport cannot work without the forward).
func CheckForwarding(ctx context.Context, c *provision.Client) []string {
	var out []string
	tcpRefused := refused(c.DialContext(ctx, "tcp", "127.0.0.1:1"))
	if tcpRefused {
		out = append(out, "the node's sshd refuses TCP forwarding (direct-tcpip), which reaches workers: set `AllowTcpForwarding yes` "+
			"(or `local`) in /etc/ssh/sshd_config and make sure `DisableForwarding yes` is not set")
	}
	also := ""
	if tcpRefused {
		also = " (OpenSSH's `AllowTcpForwarding no` refuses it too)"
	}
	remote, direct := tryStreamLocal(ctx, c)
	if remote {
		out = append(out, "the node's sshd refuses remote Unix socket forwarding (streamlocal-forward), which the agent reaches the queen by: "+
			"set `AllowStreamLocalForwarding yes` (or `remote`) in /etc/ssh/sshd_config and make sure `DisableForwarding yes` is not set"+also)
	}
	if direct {
		out = append(out, "the node's sshd refuses Unix socket forwarding (direct-streamlocal), which reaches the agent: set "+
			"`AllowStreamLocalForwarding yes` (or `local`) in /etc/ssh/sshd_config and make sure `DisableForwarding yes` is not set"+also)
	}
	return out
}

// refused reports whether a probe dial was refused by sshd's
// configuration; its connection, if any, is closed.
func refused(conn interface{ Close() error }, err error) bool {
	if err == nil {
		conn.Close()
	}
	return errors.Is(err, provision.ErrForwardingRefused)
}

// tryStreamLocal asks for a streamlocal forward at a fresh path in /tmp
// and, when it is granted, opens a direct-streamlocal channel to that
// socket; then it cancels the forward. It reports which of the two sshd
// refused.
func tryStreamLocal(ctx context.Context, c *provision.Client) (remoteRefused, directRefused bool) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	sock := "/tmp/rbee-preflight-" + hex.EncodeToString(b) + ".sock"
	ln, err := c.Listen("unix", sock)
	if err != nil {
		return errors.Is(err, provision.ErrForwardingRefused), false
	}
	defer removeSocket(ctx, c, sock)
	defer ln.Close()
	conn, err := c.DialContext(ctx, "unix", sock)
	if err != nil {
		var oe *ssh.OpenChannelError
		return false, errors.As(err, &oe) // sshd could not, or would not, open the socket it listens on
	}
	conn.Close()
	return false, false
}

// removeSocket removes the socket file a streamlocal forward left (sshd
// does not): over the connection's SFTP session, which needs no process on
// the node, else with rm.
func removeSocket(ctx context.Context, c *provision.Client, sock string) {
	if sc, err := c.SFTP(); err == nil {
		if err := sc.Remove(sock); err == nil || errors.Is(err, fs.ErrNotExist) {
			return
		}
	}
	_, _ = c.Run(ctx, provision.Command("rm", "-f", "--", sock))
}

// forwardingError is the probe's failure for a node whose sshd refuses
// the ssh transport's forwarding.
func forwardingError(node string, problems []string) error {
	return withHint(strings.ReplaceAll(SSHDConfigHint, "NODE", node),
		"the ssh transport cannot work on %s: %s", node, strings.Join(problems, "; "))
}
