package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
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
	if err := f.restartSSHD(ctx, h); err != nil {
		return err
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

// restartSSHD stops h's sshd and starts it again with the same command line.
func (f *Fleet) restartSSHD(ctx context.Context, h *Host) error {
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

// SetSessionEnv replaces the environment sshd gives h's sessions (the
// SetEnv line of its sshd_config, e.g. a PATH without git) and restarts its
// sshd. The fleet's Go settings are kept unless env overrides them.
func (f *Fleet) SetSessionEnv(ctx context.Context, h *Host, env ...string) error {
	merged := map[string]string{}
	var order []string
	for _, kv := range append(append([]string{}, f.GoEnv...), env...) {
		k, _, _ := strings.Cut(kv, "=")
		if _, seen := merged[k]; !seen {
			order = append(order, k)
		}
		merged[k] = kv
	}
	line := "SetEnv"
	for _, k := range order {
		line += " " + merged[k]
	}
	cfgPath := filepath.Join(h.Dir, "sshd_config")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "SetEnv ") {
			lines[i] = line
		}
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return err
	}
	return f.restartSSHD(ctx, h)
}

// optionsMarker starts the lines SetSSHDOptions appends to an sshd_config.
const optionsMarker = "# options set by the test (SetSSHDOptions)"

// SetSSHDOptions puts options (whole sshd_config lines, e.g.
// "AllowTcpForwarding no", "AllowStreamLocalForwarding no",
// "DisableForwarding yes") at the end of h's sshd_config, replacing those of
// an earlier call (none restores the defaults), and restarts its sshd.
func (f *Fleet) SetSSHDOptions(ctx context.Context, h *Host, options ...string) error {
	cfgPath := filepath.Join(h.Dir, "sshd_config")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	text, _, _ := strings.Cut(string(data), optionsMarker+"\n")
	if len(options) > 0 {
		text += optionsMarker + "\n" + strings.Join(options, "\n") + "\n"
	}
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		return err
	}
	return f.restartSSHD(ctx, h)
}
