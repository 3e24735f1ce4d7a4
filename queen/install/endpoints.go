package install

import (
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Names of the sockets of the ssh transport in <install path>/run/.
const (
	// AgentSocket is where the agent listens (mode 0600).
	AgentSocket = "hive-agent.sock"
	// QueenSocket is the remote forward back to the queen; the node's
	// sshd creates it (mode 0600) while the queen's connection is up.
	QueenSocket = "queen.sock"
	// maxSocketPath is the longest socket path used: sun_path holds 108
	// bytes with its NUL; longer install paths fall back to loopback TCP.
	maxSocketPath = 100
)

// Endpoints are where an agent of the ssh transport listens, and where on
// its node the queen's remote forward waits for it.
type Endpoints struct {
	// AgentNetwork and AgentAddr are the agent's listener on the node:
	// "unix" and <install path>/run/hive-agent.sock, or (when that path
	// is too long for a socket) "tcp" and 127.0.0.1:<agent port>.
	AgentNetwork, AgentAddr string
	// QueenNetwork and QueenAddr are the remote forward to the queen:
	// "unix" and <install path>/run/queen.sock, or "tcp" and
	// 127.0.0.1:<agent port + 1>.
	QueenNetwork, QueenAddr string
}

// SSHEndpoints returns the endpoints of node n under the ssh transport.
func SSHEndpoints(n api.Node) Endpoints {
	run := path.Join(n.InstallPath, "run")
	agentSock, queenSock := path.Join(run, AgentSocket), path.Join(run, QueenSocket)
	if len(agentSock) <= maxSocketPath && len(queenSock) <= maxSocketPath {
		return Endpoints{AgentNetwork: "unix", AgentAddr: agentSock, QueenNetwork: "unix", QueenAddr: queenSock}
	}
	port := n.AgentPort
	if port == 0 {
		port = api.DefaultAgentPort
	}
	return Endpoints{
		AgentNetwork: "tcp", AgentAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		QueenNetwork: "tcp", QueenAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)),
	}
}

// AgentURL is the agent URL the registry records: unix:///<socket> or
// http://127.0.0.1:<port>, an address on the node itself.
func (e Endpoints) AgentURL() string { return endpointURL(e.AgentNetwork, e.AgentAddr) }

// QueenURL is the queen URL the agent's config gets.
func (e Endpoints) QueenURL() string { return endpointURL(e.QueenNetwork, e.QueenAddr) }

// Listen is the agent config's listen value: a socket path or host:port.
func (e Endpoints) Listen() string { return e.AgentAddr }

func endpointURL(network, addr string) string {
	if network == "unix" {
		return "unix://" + addr
	}
	return "http://" + addr
}

// DialTarget returns the network and address to dial for an agent URL
// install recorded: a unix:// URL names a socket, an http(s) URL a host
// and port (default 80 or 443).
func DialTarget(agentURL string) (network, addr string) {
	if p, ok := strings.CutPrefix(agentURL, "unix://"); ok {
		return "unix", p
	}
	rest := agentURL
	port := "80"
	if r, ok := strings.CutPrefix(rest, "https://"); ok {
		rest, port = r, "443"
	} else if r, ok := strings.CutPrefix(rest, "http://"); ok {
		rest = r
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			rest = rest[:i]
			break
		}
	}
	if _, _, err := net.SplitHostPort(rest); err == nil {
		return "tcp", rest
	}
	return "tcp", net.JoinHostPort(rest, port)
}
