package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

// Mode says how the hosts of a fleet are made.
type Mode string

const (
	// Loopback hosts are sshd processes on 127.0.0.1 running as the current user.
	Loopback Mode = "loopback"
	// Netns hosts each have a network namespace, an address on a bridge, a
	// unix user and an sshd on port 22. Needs root.
	Netns Mode = "netns"
)

// SSHD is the OpenSSH server binary every host runs.
const SSHD = "/usr/sbin/sshd"

// Options configure a fleet. The zero value starts 3 loopback hosts serving
// the checkout that contains the working directory.
type Options struct {
	Mode   Mode   // Loopback (default) or Netns
	Hosts  int    // number of hosts, default 3
	Prefix string // host name prefix, default "host" (hosts are host-1, host-2, …)
	// Source is a directory inside the git checkout to serve; default: the
	// working directory.
	Source string
}

// Fleet is a running test fleet. Its exported fields are its state: the CLI
// saves them as JSON and a later process can Close the fleet from them.
type Fleet struct {
	ID            string   `json:"id"`
	Mode          Mode     `json:"mode"`
	Dir           string   `json:"dir"`             // everything the fleet wrote lives here
	ClientUser    string   `json:"client_user"`     // loopback: the login user of every host
	ClientKeyPath string   `json:"client_key_path"` // private key every host accepts (0600)
	Hosts         []*Host  `json:"hosts"`
	Git           *Git     `json:"git"`
	Net           *Network `json:"net,omitempty"`   // netns mode only
	GoEnv         []string `json:"go_env"`          // the Go settings sessions on hosts get
	Owner         *Owner   `json:"owner,omitempty"` // nil: kept by the CLI until `testenv down`
}

// Host is one machine of the fleet.
type Host struct {
	Name       string   `json:"name"`
	Addr       string   `json:"addr"` // IP address to dial
	Port       int      `json:"port"`
	User       string   `json:"user"`
	Home       string   `json:"home"`
	InstallDir string   `json:"install_dir"` // an empty directory the user owns
	Dir        string   `json:"dir"`         // sshd_config, host key, pid file, log
	HostKey    string   `json:"host_key"`    // sshd's public host key, authorized_keys format
	AgentPort  int      `json:"agent_port"`  // a port for the hive agent: free on loopback, 7835 in a namespace
	SSHD       *Process `json:"sshd"`
	Netns      string   `json:"netns,omitempty"`
	Veth       string   `json:"veth,omitempty"` // host-side end of the host's link
	MAC        string   `json:"mac,omitempty"`  // the host's MAC address on the bridge
	Cut        bool     `json:"cut,omitempty"`
}

// Address returns host:port for dialing the host.
func (h *Host) Address() string {
	return fmt.Sprintf("%s:%d", h.Addr, h.Port)
}

// PublicKey returns the host's SSH host key.
func (h *Host) PublicKey() (ssh.PublicKey, error) {
	return ParsePublicKey(h.HostKey)
}

// Start creates a fleet as opts say. On failure it removes what it made.
func Start(ctx context.Context, opts Options) (f *Fleet, err error) {
	opts = opts.withDefaults()
	if err := checkPrerequisites(opts.Mode); err != nil {
		return nil, err
	}
	f = &Fleet{ID: randomID(), Mode: opts.Mode, Owner: currentOwner()}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Close())
			f = nil
		}
	}()
	if err := f.makeDir(); err != nil {
		return f, err
	}
	if err := f.save(); err != nil {
		return f, err
	}
	if err := f.makeClientKey(); err != nil {
		return f, err
	}
	if opts.Mode == Netns {
		f.Net, err = createNetwork(ctx, f.ID)
		if err != nil {
			return f, err
		}
		if err := f.save(); err != nil {
			return f, err
		}
	}
	if f.Git, err = startGit(ctx, f, opts.Source); err != nil {
		return f, err
	}
	if f.GoEnv, err = goEnv(ctx, f, opts.Source); err != nil {
		return f, err
	}
	for i := 1; i <= opts.Hosts; i++ {
		h, err := f.startHost(ctx, fmt.Sprintf("%s-%d", opts.Prefix, i), i)
		if h != nil {
			f.Hosts = append(f.Hosts, h)
		}
		if err := errors.Join(err, f.save()); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (o Options) withDefaults() Options {
	if o.Mode == "" {
		o.Mode = Loopback
	}
	if o.Hosts <= 0 {
		o.Hosts = 3
	}
	if o.Prefix == "" {
		o.Prefix = "host"
	}
	if o.Source == "" {
		o.Source = "."
	}
	return o
}

// checkPrerequisites returns an error naming what is missing and how to get
// it, or nil.
func checkPrerequisites(mode Mode) error {
	need := []string{SSHD, "git"}
	if mode == Netns {
		if os.Geteuid() != 0 {
			return &MissingError{What: "root", Fix: "netns mode creates namespaces, a bridge and users: run as root"}
		}
		need = append(need, "ip", "useradd", "userdel", "groupadd", "groupdel")
	} else if mode != Loopback {
		return fmt.Errorf("unknown mode %q: use %q or %q", mode, Loopback, Netns)
	}
	for _, bin := range need {
		if _, err := exec.LookPath(bin); err != nil {
			return &MissingError{What: bin, Fix: "install it with: bash scripts/install-deps.sh (apt-get install openssh-server openssh-client git iproute2 passwd)"}
		}
	}
	if _, err := exec.LookPath("go"); err != nil {
		return &MissingError{What: "go", Fix: "install Go 1.26 and put it on PATH"}
	}
	return nil
}

// MissingError says that a prerequisite of the fleet is missing.
type MissingError struct {
	What string
	Fix  string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("test fleet needs %s: %s", e.What, e.Fix)
}

func randomID() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *Fleet) makeDir() error {
	dir, err := os.MkdirTemp("", "rbee-fleet-"+f.ID+"-")
	if err != nil {
		return fmt.Errorf("make fleet folder: %w", err)
	}
	f.Dir = dir
	// Host users of netns mode must traverse it to reach the Go proxy and cache.
	return os.Chmod(dir, 0o755)
}

func (f *Fleet) makeClientKey() error {
	u, err := user.Current()
	if err != nil {
		return fmt.Errorf("current user: %w", err)
	}
	f.ClientUser = u.Username
	f.ClientKeyPath = filepath.Join(f.Dir, "client_ed25519")
	_, err = writeKeyPair(f.ClientKeyPath, "rbee-testenv-client-"+f.ID)
	return err
}

func (f *Fleet) clientPublicKey() (string, error) {
	data, err := os.ReadFile(f.ClientKeyPath + ".pub")
	return string(data), err
}

// Signer returns the client key as an ssh.Signer.
func (f *Fleet) Signer() (ssh.Signer, error) {
	data, err := os.ReadFile(f.ClientKeyPath)
	if err != nil {
		return nil, fmt.Errorf("read client key: %w", err)
	}
	return ssh.ParsePrivateKey(data)
}

// ClientConfig returns an SSH client configuration for h that authenticates
// with the fleet's client key and accepts only h's host key.
func (f *Fleet) ClientConfig(h *Host, timeout time.Duration) (*ssh.ClientConfig, error) {
	signer, err := f.Signer()
	if err != nil {
		return nil, err
	}
	hostKey, err := h.PublicKey()
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{
		User:            h.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout:         timeout,
	}, nil
}

// Host returns the host with the given name, or nil.
func (f *Fleet) Host(name string) *Host {
	for _, h := range f.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// AddNodeFlags returns the `queen setup add-node` flags that register h.
func (f *Fleet) AddNodeFlags(h *Host) []string {
	return []string{
		"--name", h.Name,
		"--ssh-host", h.Addr,
		"--ssh-port", strconv.Itoa(h.Port),
		"--ssh-user", h.User,
		"--ssh-key", f.ClientKeyPath,
		"--git-repo", f.Git.URL,
		"--git-branch", "main",
		"--install-path", h.InstallDir,
		"--agent-port", strconv.Itoa(h.AgentPort),
	}
}

// Close stops every process the fleet started and removes every namespace,
// link, route, user, group and file it made. It is safe to call more than
// once and on a fleet loaded from saved state.
func (f *Fleet) Close() error {
	var errs []error
	for _, h := range f.Hosts {
		errs = append(errs, f.stopHost(h))
	}
	if f.Git != nil {
		errs = append(errs, f.Git.Daemon.Stop(5*time.Second))
	}
	if f.Net != nil {
		errs = append(errs, f.Net.remove())
	}
	if f.Dir != "" {
		killStrays(f.Dir)
		if err := os.RemoveAll(f.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove fleet folder: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Logs returns the logs of every daemon of the fleet, for a failed test.
func (f *Fleet) Logs() string {
	var out string
	for _, h := range f.Hosts {
		if h.SSHD != nil {
			out += fmt.Sprintf("--- sshd of %s (%s) ---\n%s\n", h.Name, h.SSHD.Log, h.SSHD.tail(200))
		}
	}
	if f.Git != nil && f.Git.Daemon != nil {
		out += fmt.Sprintf("--- git daemon (%s) ---\n%s\n", f.Git.Daemon.Log, f.Git.Daemon.tail(100))
	}
	return out
}
