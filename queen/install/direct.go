package install

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// directProbeTimeout bounds CheckDirectPort's connect: a port a firewall
// drops never answers.
const directProbeTimeout = 3 * time.Second

// CheckDirectPort tries from the queen what the http transport needs of
// the network: a TCP connection to the agent port on host. It returns
// the problem, naming the port, when the connect times out or the host is
// unreachable (a firewall drops or rejects it); an answer or a refusal
// (nothing listens yet, but the port is open) is no problem.
func CheckDirectPort(ctx context.Context, host string, port int) string {
	if port == 0 {
		port = api.DefaultAgentPort
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	d := net.Dialer{Timeout: directProbeTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		conn.Close()
		return ""
	}
	if errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() != nil {
		return ""
	}
	return fmt.Sprintf("the queen cannot reach the agent port %d on %s (%v): the http transport needs port %d "+
		"and the worker ports 8081-8999 open to the queen; a firewall closes port %d", port, host, err, port, port)
}

// directPortError is the probe's failure for a node of the http
// transport whose agent port the queen cannot reach.
func directPortError(node, problem string) error {
	return withHint(fmt.Sprintf("open the port in the node's firewall, or use the ssh transport, which needs only port 22: "+
		"`queen setup update-node --name %s --transport ssh`", node), "%s", problem)
}
