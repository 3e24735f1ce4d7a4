package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

var sshdConfig = template.Must(template.New("sshd_config").Parse(`# sshd of test host {{.Name}}, written by rbee's testenv
Port {{.Port}}
ListenAddress {{.Listen}}
HostKey {{.Dir}}/ssh_host_ed25519_key
PidFile {{.Dir}}/sshd.pid
AuthorizedKeysFile {{.AuthorizedKeys}}
StrictModes {{.StrictModes}}
AllowUsers {{.User}}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
LogLevel VERBOSE
ClientAliveInterval 5
ClientAliveCountMax 3
MaxStartups 200
Subsystem sftp internal-sftp
SetEnv {{.Env}}
`))

type sshdSettings struct {
	Name, Listen, Dir, AuthorizedKeys, StrictModes, User, Env string
	Port                                                      int
}

// startHost makes host number i and starts its sshd. It returns the host
// even on failure, so that Close removes what was made.
func (f *Fleet) startHost(ctx context.Context, name string, i int) (*Host, error) {
	h := &Host{Name: name, Dir: filepath.Join(f.Dir, "hosts", name)}
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return nil, err
	}
	var err error
	if h.HostKey, err = writeKeyPair(filepath.Join(h.Dir, "ssh_host_ed25519_key"), name); err != nil {
		return h, err
	}
	if f.Mode == Netns {
		err = f.startNetnsHost(ctx, h, i)
	} else {
		err = f.startLoopbackHost(ctx, h)
	}
	return h, err
}

func (f *Fleet) startLoopbackHost(ctx context.Context, h *Host) error {
	h.Addr, h.User = "127.0.0.1", f.ClientUser
	home, err := os.UserHomeDir()
	if err != nil {
		return fmt.Errorf("home of %s: %w", h.User, err)
	}
	h.Home = home
	h.InstallDir = filepath.Join(h.Dir, "install")
	if h.AgentPort, err = freePort(); err != nil {
		return err
	}
	if err := os.Mkdir(h.InstallDir, 0o755); err != nil {
		return err
	}
	pub, err := f.clientPublicKey()
	if err != nil {
		return err
	}
	keys := filepath.Join(h.Dir, "authorized_keys")
	if err := os.WriteFile(keys, []byte(pub), 0o600); err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ { // a free port may be taken before sshd binds it
		if h.Port, err = freePort(); err != nil {
			return err
		}
		s := sshdSettings{Name: h.Name, Listen: "127.0.0.1", Dir: h.Dir, AuthorizedKeys: keys,
			StrictModes: "no", User: h.User, Env: strings.Join(f.GoEnv, " "), Port: h.Port}
		if lastErr = f.runSSHD(ctx, h, s, nil); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

// runSSHD writes the host's sshd_config and starts sshd with it, prefixed by
// wrap (e.g. "ip netns exec NS"), then waits for its SSH banner.
func (f *Fleet) runSSHD(ctx context.Context, h *Host, s sshdSettings, wrap []string) error {
	cfgPath := filepath.Join(h.Dir, "sshd_config")
	var b strings.Builder
	if err := sshdConfig.Execute(&b, s); err != nil {
		return err
	}
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := ensurePrivsepDir(); err != nil {
		return err
	}
	argv := append(wrap, SSHD, "-D", "-e", "-f", cfgPath)
	p, err := startDaemon(argv, filepath.Join(h.Dir, "sshd.log"), cfgPath)
	if err != nil {
		return err
	}
	h.SSHD = p
	if err := awaitListening(ctx, h.Address(), p, []byte("SSH-2.0")); err != nil {
		_ = p.Stop(2 * time.Second)
		return fmt.Errorf("sshd of %s on %s: %w", h.Name, h.Address(), err)
	}
	return nil
}

// ensurePrivsepDir creates /run/sshd, which sshd running as root needs.
func ensurePrivsepDir() error {
	if os.Geteuid() != 0 {
		return nil
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create sshd's privilege separation folder: %w", err)
	}
	return nil
}

func (f *Fleet) stopHost(h *Host) error {
	var errs []error
	if h.SSHD != nil {
		errs = append(errs, h.SSHD.Stop(5*time.Second))
	}
	if h.Netns != "" {
		errs = append(errs, f.Net.removeHost(h))
	}
	return errors.Join(errs...)
}
