package provision

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Fingerprint returns the SHA256 fingerprint of key ("SHA256:..."), as
// ssh-keygen -l prints it.
func Fingerprint(key ssh.PublicKey) string { return ssh.FingerprintSHA256(key) }

// FingerprintOf returns the SHA256 fingerprint of a key in authorized_keys
// format, such as a pinned [Target.HostKey].
func FingerprintOf(authorizedKey string) (string, error) {
	key, err := ParseHostKey(authorizedKey)
	if err != nil {
		return "", err
	}
	return Fingerprint(key), nil
}

// MarshalHostKey returns key in authorized_keys format ("ssh-ed25519
// AAAA..."), without the trailing newline: the form [Target.HostKey] takes.
func MarshalHostKey(key ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

// ParseHostKey parses a key in authorized_keys format.
func ParseHostKey(authorizedKey string) (ssh.PublicKey, error) {
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return nil, fmt.Errorf("%w: parse host key %q: %w", ErrInvalidTarget, authorizedKey, err)
	}
	return key, nil
}

// hostKeyCheck verifies the key one server presents during a handshake and
// remembers it, and the rejection: x/crypto may report a rejected key as a
// closed connection, so the handshake error alone is not enough.
type hostKeyCheck struct {
	verify func(addr string, key ssh.PublicKey) error
	algos  []string // host key algorithms to negotiate; nil means x/crypto's defaults

	mu       sync.Mutex
	seen     ssh.PublicKey
	rejected error
}

func (h *hostKeyCheck) callback(addr string, _ net.Addr, key ssh.PublicKey) error {
	err := h.verify(addr, key)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen, h.rejected = key, err
	return err
}

func (h *hostKeyCheck) result() (seen ssh.PublicKey, rejected error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen, h.rejected
}

// nodeHostKeyCheck verifies the node: the pinned key if there is one, else
// the expected fingerprint if there is one, else any key (trust on first
// use; the caller records Client.HostKey).
func nodeHostKeyCheck(t Target, log *slog.Logger) (*hostKeyCheck, error) {
	if t.HostKey != "" {
		pinned, err := ParseHostKey(t.HostKey)
		if err != nil {
			return nil, err
		}
		return &hostKeyCheck{verify: pinnedKey(pinned), algos: algorithmsFor(pinned.Type())}, nil
	}
	if t.ExpectFingerprint != "" {
		want := t.ExpectFingerprint
		if !strings.HasPrefix(want, "SHA256:") {
			want = "SHA256:" + want
		}
		return &hostKeyCheck{verify: expectedFingerprint(want), algos: preferredAlgorithms}, nil
	}
	return &hostKeyCheck{verify: func(addr string, key ssh.PublicKey) error {
		log.Info("trusting host key on first use", "host", addr, "fingerprint", Fingerprint(key))
		return nil
	}, algos: preferredAlgorithms}, nil
}

// preferredAlgorithms is OpenSSH's order of preference for plain host keys,
// ed25519 first; x/crypto's own order puts ECDSA first. With it, a server
// with several host keys presents the key that ssh would record and that
// `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints, so an expected
// fingerprint taken from there matches.
var preferredAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

func pinnedKey(pinned ssh.PublicKey) func(string, ssh.PublicKey) error {
	want := pinned.Marshal()
	return func(addr string, key ssh.PublicKey) error {
		if string(key.Marshal()) == string(want) {
			return nil
		}
		return &HostKeyMismatchError{Host: addr, Want: Fingerprint(pinned), Got: Fingerprint(key), Pinned: true}
	}
}

func expectedFingerprint(want string) func(string, ssh.PublicKey) error {
	return func(addr string, key ssh.PublicKey) error {
		if got := Fingerprint(key); got != want {
			return &HostKeyMismatchError{Host: addr, Want: want, Got: got}
		}
		return nil
	}
}

// algorithmsFor returns the host key algorithms that make a server present
// a key of keyType, so that a server with several host keys presents the
// pinned one and not merely the one x/crypto prefers.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// jumpHostKeys verifies jump hosts against known_hosts.
//
// Jump hosts are the user's own infrastructure, usually already in their
// known_hosts, and their keys are not pinned in the registry. A key listed
// there must match. A jump host missing from known_hosts (or no known_hosts
// at all) is trusted on first use with a warning in the log, like the node
// itself at add-node.
type jumpHostKeys struct {
	db  ssh.HostKeyCallback // nil when there is no known_hosts file
	log *slog.Logger
}

func newJumpHostKeys(path string, log *slog.Logger) (*jumpHostKeys, error) {
	if path == "" {
		home, _ := os.UserHomeDir()
		path = filepath.Join(home, ".ssh", "known_hosts")
	}
	db, err := knownhosts.New(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &jumpHostKeys{log: log}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read known_hosts: %w", ErrInvalidTarget, err)
	}
	return &jumpHostKeys{db: db, log: log}, nil
}

// check returns the host key check for the jump host at addr.
func (j *jumpHostKeys) check(addr string) *hostKeyCheck {
	return &hostKeyCheck{verify: j.verify, algos: j.knownAlgorithms(addr)}
}

func (j *jumpHostKeys) verify(addr string, key ssh.PublicKey) error {
	if j.db != nil {
		err := j.db(addr, placeholderAddr, key)
		var keyErr *knownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
			return &HostKeyMismatchError{Host: addr, Want: Fingerprint(keyErr.Want[0].Key), Got: Fingerprint(key), Pinned: true}
		case keyErr == nil:
			return fmt.Errorf("check jump host key in known_hosts: %w", err)
		}
	}
	j.log.Warn("jump host key not in known_hosts; trusting it on first use", "host", addr, "fingerprint", Fingerprint(key))
	return nil
}

// knownAlgorithms returns the algorithms of the keys known_hosts lists for
// addr, so that the server presents one of them; preferredAlgorithms if it
// lists none.
func (j *jumpHostKeys) knownAlgorithms(addr string) []string {
	if j.db == nil {
		return preferredAlgorithms
	}
	var keyErr *knownhosts.KeyError
	if !errors.As(j.db(addr, placeholderAddr, probeKey), &keyErr) {
		return preferredAlgorithms
	}
	if len(keyErr.Want) == 0 {
		return preferredAlgorithms
	}
	var algos []string
	for _, k := range keyErr.Want {
		algos = append(algos, algorithmsFor(k.Key.Type())...)
	}
	return algos
}

// placeholderAddr stands in for the remote address knownhosts wants; the
// host name passed alongside takes precedence over it.
var placeholderAddr = &net.TCPAddr{IP: net.IPv4zero}

// probeKey is a key no server has; checking it against known_hosts lists the
// keys known for a host.
var probeKey = func() ssh.PublicKey {
	key, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		panic(err)
	}
	return key
}()
