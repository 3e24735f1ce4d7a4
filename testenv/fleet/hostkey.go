package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"golang.org/x/crypto/ssh"
)

// RotateHostKey gives h a new host key, as a reinstalled machine would have,
// and waits until its sshd presents it.
func (f *Fleet) RotateHostKey(ctx context.Context, h *Host) error {
	line, err := writeKeyPair(filepath.Join(h.Dir, "ssh_host_ed25519_key"), h.Name)
	if err != nil {
		return err
	}
	h.HostKey = line
	want, err := h.PublicKey()
	if err != nil {
		return err
	}
	// A restart rather than SIGHUP: a reloading sshd briefly refuses
	// connections after it already presents the new key.
	if err := h.SSHD.Stop(5 * time.Second); err != nil {
		return err
	}
	p, err := startDaemon(h.SSHD.Argv, h.SSHD.Log, h.SSHD.Match)
	if err != nil {
		return fmt.Errorf("restart sshd of %s: %w", h.Name, err)
	}
	h.SSHD = p
	if err := awaitListening(ctx, h.Address(), p, []byte("SSH-2.0")); err != nil {
		return fmt.Errorf("restart sshd of %s: %w", h.Name, err)
	}
	got, err := presentedHostKey(h.Address())
	if err != nil {
		return err
	}
	if !bytes.Equal(got.Marshal(), want.Marshal()) {
		return fmt.Errorf("sshd of %s presents %s after the restart, want %s", h.Name,
			ssh.FingerprintSHA256(got), ssh.FingerprintSHA256(want))
	}
	return nil
}

var errGotKey = errors.New("host key captured")

// presentedHostKey returns the host key the SSH server at addr presents.
func presentedHostKey(addr string) (ssh.PublicKey, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var key ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User: "probe",
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = k
			return errGotKey
		},
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
	}
	_, _, _, err = ssh.NewClientConn(conn, addr, cfg)
	if key != nil {
		return key, nil
	}
	return nil, err
}
