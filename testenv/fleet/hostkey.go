package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
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
	// SIGHUP makes sshd re-execute itself (same pid) and read its keys again.
	if err := syscall.Kill(h.SSHD.Pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload sshd of %s: %w", h.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return Await(ctx, "sshd of "+h.Name+" to present its new host key", func() (bool, string, error) {
		got, err := presentedHostKey(h.Address())
		if err != nil {
			return false, err.Error(), nil
		}
		return bytes.Equal(got.Marshal(), want.Marshal()), "old key still presented", nil
	})
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
