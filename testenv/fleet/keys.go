package fleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// writeKeyPair generates an ed25519 key, writes the private half to path
// (OpenSSH format, mode 0600) and the public half to path+".pub", and returns
// the public key in authorized_keys format without a trailing newline.
func writeKeyPair(path, comment string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return "", fmt.Errorf("marshal key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", fmt.Errorf("write key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	if err := os.WriteFile(path+".pub", []byte(line+" "+comment+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write public key: %w", err)
	}
	return line, nil
}

// ParsePublicKey parses a key in authorized_keys format, as Host.HostKey holds.
func ParsePublicKey(line string) (ssh.PublicKey, error) {
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("parse public key %q: %w", line, err)
	}
	return key, nil
}

// WriteClientKey writes a new ed25519 private key to path (0600) and its
// public half to path+".pub"; no host of any fleet accepts it.
func WriteClientKey(path string) error {
	_, err := writeKeyPair(path, "rbee-testenv-stranger")
	return err
}
