package provision

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// DefaultConnectTimeout bounds TCP connect plus SSH handshake of one attempt
// when [Target.ConnectTimeout] is zero.
const DefaultConnectTimeout = 10 * time.Second

// Target is a node to connect to, as the caller knows it. Explicit fields win
// over ~/.ssh/config; empty fields are filled from it by [Resolve].
type Target struct {
	// Host is a host name, an address or an alias from the ssh config.
	Host string
	// Port is the SSH port; 0 means the config's Port, else 22.
	Port int
	// User is the remote user; "" means the config's User, else the local user.
	User string
	// KeyPath is a private key file; "" means the first existing IdentityFile
	// from the config, else the keys in ssh-agent.
	KeyPath string
	// ConnectTimeout bounds TCP connect and SSH handshake of one attempt;
	// 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// HostKey is the pinned host key in authorized_keys format; the server
	// must present exactly this key. "" means no pin.
	HostKey string
	// ExpectFingerprint ("SHA256:...") is checked on first use, when HostKey
	// is empty. "" with no HostKey means trust on first use. A server with
	// several host keys is asked for ed25519 first, as ssh does, so take the
	// fingerprint from `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`.
	ExpectFingerprint string
	// SSHConfigPath is the ssh config to read; "" means ~/.ssh/config, and a
	// missing default file is the same as an empty one.
	SSHConfigPath string
	// ProxyJump lists jump hosts, "[user@]host[:port]" separated by commas,
	// like ssh -J; "" means the config's ProxyJump, "none" means connect
	// directly.
	ProxyJump string
}

// Endpoint is one SSH server with everything needed to reach it.
type Endpoint struct {
	Alias    string // the name it was asked for: an alias or the host itself
	HostName string // the host name or address to connect to
	Port     int
	User     string
	KeyPath  string // private key file; "" means ssh-agent
}

// Addr returns host:port, with brackets around an IPv6 address.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.HostName, strconv.Itoa(e.Port)) }

// String returns user@host:port.
func (e Endpoint) String() string { return e.User + "@" + e.Addr() }

// Route is a resolved [Target]: the jump hosts, in the order they are
// crossed, then the node.
type Route struct {
	Jumps []Endpoint
	Dest  Endpoint
}

// Resolve fills the empty fields of t from the ssh config (HostName, Port,
// User, IdentityFile with ~ expanded, ProxyJump) and the defaults. Each jump
// host is resolved through the same config; a jump host's own ProxyJump is
// not followed. Only the user's ssh config is read, not /etc/ssh/ssh_config.
func Resolve(t Target) (Route, error) {
	if t.Host == "" {
		return Route{}, fmt.Errorf("%w: host is required", ErrInvalidTarget)
	}
	if t.Port < 0 || t.Port > 65535 {
		return Route{}, fmt.Errorf("%w: port %d for %q is not in 1-65535", ErrInvalidTarget, t.Port, t.Host)
	}
	r, err := newResolver(t.SSHConfigPath)
	if err != nil {
		return Route{}, err
	}
	return r.route(t)
}

// resolver applies one ssh config to targets and jump hosts.
type resolver struct {
	cfg       *ssh_config.Config
	cfgPath   string
	home      string
	localUser string
}

func newResolver(cfgPath string) (*resolver, error) {
	home, _ := os.UserHomeDir()
	r := &resolver{home: home, localUser: localUserName()}
	explicit := cfgPath != ""
	if !explicit {
		cfgPath = filepath.Join(home, ".ssh", "config")
	}
	r.cfgPath = cfgPath
	cfg, err := decodeSSHConfig(cfgPath)
	switch {
	case err == nil:
		r.cfg = cfg
	case !explicit && errors.Is(err, fs.ErrNotExist):
		r.cfg = &ssh_config.Config{}
	default:
		return nil, fmt.Errorf("%w: read ssh config: %w", ErrInvalidTarget, err)
	}
	return r, nil
}

func decodeSSHConfig(path string) (*ssh_config.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return cfg, nil
}

func localUserName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

func (r *resolver) route(t Target) (Route, error) {
	dest, err := r.endpoint(t.Host, t.User, t.Port, expandTilde(t.KeyPath, r.home))
	if err != nil {
		return Route{}, err
	}
	jumpSpec := t.ProxyJump
	if jumpSpec == "" {
		if jumpSpec, err = r.get(t.Host, "ProxyJump"); err != nil {
			return Route{}, err
		}
	}
	jumps, err := r.jumps(jumpSpec)
	if err != nil {
		return Route{}, err
	}
	return Route{Jumps: jumps, Dest: dest}, nil
}

// endpoint resolves alias; user, port and keyPath, when set, win over the config.
func (r *resolver) endpoint(alias, user string, port int, keyPath string) (Endpoint, error) {
	ep := Endpoint{Alias: alias, HostName: alias, Port: port, User: user, KeyPath: keyPath}
	steps := []func(*Endpoint) error{r.refuseProxyCommand, r.applyHostName, r.applyPort, r.applyUser, r.applyIdentityFile}
	for _, step := range steps {
		if err := step(&ep); err != nil {
			return Endpoint{}, err
		}
	}
	return ep, nil
}

// refuseProxyCommand fails for a host that the config reaches through a
// ProxyCommand: connecting directly would silently ignore it.
func (r *resolver) refuseProxyCommand(ep *Endpoint) error {
	cmd, err := r.get(ep.Alias, "ProxyCommand")
	if err != nil || cmd == "" || strings.EqualFold(cmd, "none") {
		return err
	}
	return fmt.Errorf("%w: %s sets ProxyCommand for %q; only ProxyJump is supported, use it instead",
		ErrInvalidTarget, r.cfgPath, ep.Alias)
}

func (r *resolver) applyHostName(ep *Endpoint) error {
	hn, err := r.get(ep.Alias, "HostName")
	if hn != "" {
		ep.HostName = expandTokens(hn, map[byte]string{'h': ep.Alias})
	}
	return err
}

func (r *resolver) applyPort(ep *Endpoint) error {
	if ep.Port != 0 {
		return nil
	}
	ep.Port = 22
	p, err := r.get(ep.Alias, "Port")
	if err != nil || p == "" {
		return err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%w: %s: Port %q for %q is not in 1-65535", ErrInvalidTarget, r.cfgPath, p, ep.Alias)
	}
	ep.Port = n
	return nil
}

func (r *resolver) applyUser(ep *Endpoint) error {
	if ep.User != "" {
		return nil
	}
	u, err := r.get(ep.Alias, "User")
	ep.User = u
	if ep.User == "" {
		ep.User = r.localUser
	}
	return err
}

// applyIdentityFile picks the first IdentityFile that exists, as ssh skips
// missing ones; with none, the agent is used.
func (r *resolver) applyIdentityFile(ep *Endpoint) error {
	if ep.KeyPath != "" {
		return nil
	}
	files, err := r.cfg.GetAll(ep.Alias, "IdentityFile")
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidTarget, r.cfgPath, err)
	}
	tokens := map[byte]string{'d': r.home, 'u': r.localUser, 'h': ep.HostName, 'r': ep.User}
	for _, f := range files {
		path := expandTilde(expandTokens(f, tokens), r.home)
		if _, err := os.Stat(path); err == nil {
			ep.KeyPath = path
			return nil
		}
	}
	return nil
}

func (r *resolver) get(alias, key string) (string, error) {
	v, err := r.cfg.Get(alias, key)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrInvalidTarget, r.cfgPath, err)
	}
	return strings.TrimSpace(v), nil
}

// jumps resolves a ProxyJump list.
func (r *resolver) jumps(spec string) ([]Endpoint, error) {
	if spec == "" || strings.EqualFold(spec, "none") {
		return nil, nil
	}
	var eps []Endpoint
	for hop := range strings.SplitSeq(spec, ",") {
		user, host, port, err := parseHop(strings.TrimSpace(hop))
		if err != nil {
			return nil, err
		}
		ep, err := r.endpoint(host, user, port, "")
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// parseHop splits "[ssh://][user@]host[:port]"; an IPv6 address with a port
// is written in brackets.
func parseHop(hop string) (user, host string, port int, err error) {
	rest := strings.TrimPrefix(hop, "ssh://")
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		user, rest = rest[:i], rest[i+1:]
	}
	host = rest
	if h, p, splitErr := net.SplitHostPort(rest); splitErr == nil {
		host = h
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return "", "", 0, fmt.Errorf("%w: jump host %q: port %q is not in 1-65535", ErrInvalidTarget, hop, p)
		}
	}
	if host == "" || strings.ContainsAny(host, "[]/ ") {
		return "", "", 0, fmt.Errorf("%w: jump host %q is not [user@]host[:port]", ErrInvalidTarget, hop)
	}
	return user, host, port, nil
}

// expandTilde replaces a leading "~" or "~/" with home.
func expandTilde(path, home string) string {
	if path == "~" {
		return home
	}
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		return filepath.Join(home, rest)
	}
	return path
}

// expandTokens replaces ssh_config %-tokens; "%%" is a literal '%' and
// unknown tokens are left as they are.
func expandTokens(s string, tokens map[byte]string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if v, ok := tokens[s[i]]; ok {
			b.WriteString(v)
		} else if s[i] == '%' {
			b.WriteByte('%')
		} else {
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
