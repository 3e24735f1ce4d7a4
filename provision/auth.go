package provision

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// credentials hands out signers for the servers of one dial. The ssh-agent
// connection is opened when first needed and lives until close.
type credentials struct {
	agentSocket string // "" means no agent
	agentConn   net.Conn
	agent       agent.ExtendedAgent
}

// authSource says which credentials were offered to a server.
type authSource struct {
	keyPath string
	agent   bool
}

// method returns the public-key auth method for ep: ep's key file if it has
// one, else the agent's keys, else fallbackKey (the node's key, offered to a
// jump host that has no key of its own).
func (c *credentials) method(ep Endpoint, fallbackKey string) (ssh.AuthMethod, authSource, error) {
	switch {
	case ep.KeyPath != "":
		m, err := keyFileMethod(ep.KeyPath)
		return m, authSource{keyPath: ep.KeyPath}, err
	case c.agentSocket != "":
		m, err := c.agentMethod()
		return m, authSource{agent: true}, err
	case fallbackKey != "":
		m, err := keyFileMethod(fallbackKey)
		return m, authSource{keyPath: fallbackKey}, err
	}
	return nil, authSource{}, fmt.Errorf("%w for %s: no key file given and SSH_AUTH_SOCK is not set; "+
		"give a key file, or start ssh-agent and add a key with `ssh-add`", ErrNoCredentials, ep)
}

func keyFileMethod(path string) (ssh.AuthMethod, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read key file: %w", ErrNoCredentials, err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		return nil, fmt.Errorf("%w: key %s is protected by a passphrase; add it to ssh-agent with "+
			"`ssh-add %s` and give no key file, or use a key without a passphrase", ErrNoCredentials, path, Quote(path))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: parse key %s: %w", ErrNoCredentials, path, err)
	}
	return ssh.PublicKeys(signer), nil
}

func (c *credentials) agentMethod() (ssh.AuthMethod, error) {
	if c.agent == nil {
		conn, err := net.Dial("unix", c.agentSocket)
		if err != nil {
			return nil, fmt.Errorf("%w: connect to ssh-agent at %s (SSH_AUTH_SOCK): %w; start it with `eval $(ssh-agent)`",
				ErrNoCredentials, c.agentSocket, err)
		}
		c.agentConn, c.agent = conn, agent.NewClient(conn)
	}
	keys, err := c.agent.List()
	if err != nil {
		return nil, fmt.Errorf("%w: list ssh-agent keys: %w", ErrNoCredentials, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: ssh-agent at %s has no keys; add one with `ssh-add KEY`", ErrNoCredentials, c.agentSocket)
	}
	return ssh.PublicKeysCallback(c.agent.Signers), nil
}

func (c *credentials) close() {
	if c.agentConn != nil {
		c.agentConn.Close()
	}
}
