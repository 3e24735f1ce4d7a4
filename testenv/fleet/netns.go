package fleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Network is the bridge, subnet and group that netns hosts share.
type Network struct {
	Bridge        string `json:"bridge"`
	Subnet        string `json:"subnet"`    // 10.213.X.0/24
	BridgeIP      string `json:"bridge_ip"` // 10.213.X.1, also the git server's address
	UnreachableIP string `json:"unreachable_ip"`
	// QueenIP (10.213.X.2) is a second address of the bridge for a test
	// queen to listen on: connections the queen makes still come from
	// BridgeIP, so a host that Unroute took QueenIP from still answers SSH.
	QueenIP    string `json:"queen_ip"`
	GuardRoute bool   `json:"guard_route"`
	Group      string `json:"group"` // unix group of the host users
}

// blackholeMAC is a locally administered address no interface has: frames
// sent to it vanish, so TCP connects time out.
const blackholeMAC = "02:00:5e:00:de:ad"

// subnetLock serialises subnet choice between fleets of parallel processes.
var subnetLock = filepath.Join(os.TempDir(), "rbee-testenv-subnet.lock")

func createNetwork(ctx context.Context, id string) (n *Network, err error) {
	n = &Network{Bridge: "rbt" + id, Group: "rbt" + id}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.remove())
			n = nil
		}
	}()
	if err := n.createBridge(ctx); err != nil {
		return n, err
	}
	if _, err := run(ctx, "ip", "route", "add", "unreachable", n.Subnet, "metric", "4000"); err != nil {
		return n, err
	}
	n.GuardRoute = true
	n.QueenIP = strings.TrimSuffix(n.BridgeIP, ".1") + ".2"
	if _, err := run(ctx, "ip", "addr", "add", n.QueenIP+"/32", "dev", n.Bridge); err != nil {
		return n, err
	}
	n.UnreachableIP = strings.TrimSuffix(n.BridgeIP, ".1") + ".254"
	if _, err := run(ctx, "ip", "neigh", "replace", n.UnreachableIP, "lladdr", blackholeMAC,
		"dev", n.Bridge, "nud", "permanent"); err != nil {
		return n, err
	}
	_, err = retryLocked(ctx, "groupadd", n.Group)
	return n, err
}

// createBridge picks a free /24 in 10.213.0.0/16 and puts the bridge on it,
// holding a file lock so two fleets never pick the same one.
func (n *Network) createBridge(ctx context.Context) error {
	lock, err := os.OpenFile(subnetLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", subnetLock, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", subnetLock, err)
	}
	used, err := run(ctx, "ip", "-4", "-o", "addr", "show")
	if err != nil {
		return err
	}
	routes, err := run(ctx, "ip", "-4", "route", "show", "table", "all")
	if err != nil {
		return err
	}
	for _, x := range rand.Perm(250) {
		prefix := fmt.Sprintf("10.213.%d.", x+1)
		if strings.Contains(used, prefix) || strings.Contains(routes, prefix) {
			continue
		}
		n.Subnet, n.BridgeIP = prefix+"0/24", prefix+"1"
		break
	}
	if n.Subnet == "" {
		return errors.New("no free /24 left in 10.213.0.0/16: remove stale fleets with `go run ./testenv down`")
	}
	// A fixed MAC: otherwise the bridge takes its first port's MAC, and that
	// change flushes every neighbour entry, the blackhole one included.
	mac := fmt.Sprintf("02:72:62:%s:%s:01", n.Bridge[3:5], n.Bridge[5:7])
	if _, err := run(ctx, "ip", "link", "add", n.Bridge, "address", mac, "type", "bridge"); err != nil {
		n.Bridge = "" // not ours: do not delete it
		return err
	}
	if _, err := run(ctx, "ip", "addr", "add", n.BridgeIP+"/24", "dev", n.Bridge); err != nil {
		return err
	}
	_, err = run(ctx, "ip", "link", "set", n.Bridge, "up")
	return err
}

// retryLocked runs a shadow-utils command, retrying while another process
// holds the lock on /etc/passwd or /etc/group.
func retryLocked(ctx context.Context, name string, args ...string) (string, error) {
	var out string
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if out, err = run(ctx, name, args...); err == nil || !strings.Contains(err.Error(), "lock") {
			return out, err
		}
		time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
	}
	return out, err
}

func (f *Fleet) startNetnsHost(ctx context.Context, h *Host, i int) error {
	n := f.Net
	h.Netns = fmt.Sprintf("rbt%s-%d", f.ID, i)
	h.Veth = fmt.Sprintf("rbt%sh%d", f.ID, i)
	h.User = fmt.Sprintf("rbt%sh%d", f.ID, i)
	h.Addr = fmt.Sprintf("%s.%d", strings.TrimSuffix(n.BridgeIP, ".1"), 10+i)
	h.Port, h.AgentPort = 22, 7835
	h.Home = filepath.Join(f.Dir, "home", h.User)
	if err := n.plugHost(ctx, h); err != nil {
		return err
	}
	if err := f.makeUser(ctx, h); err != nil {
		return err
	}
	s := sshdSettings{Name: h.Name, Listen: "0.0.0.0", Dir: h.Dir, AuthorizedKeys: ".ssh/authorized_keys",
		StrictModes: "yes", User: h.User, Env: strings.Join(f.GoEnv, " "), Port: 22}
	wrap := []string{"/bin/sh", "-c", `umask 002 && exec "$@"`, "sh", "ip", "netns", "exec", h.Netns}
	return f.runSSHD(ctx, h, s, wrap)
}

// plugHost creates the host's namespace and its link to the bridge.
func (n *Network) plugHost(ctx context.Context, h *Host) error {
	peer := h.Veth + "p"
	steps := [][]string{
		{"ip", "netns", "add", h.Netns},
		{"ip", "link", "add", h.Veth, "type", "veth", "peer", "name", peer},
		{"ip", "link", "set", peer, "netns", h.Netns},
		{"ip", "-n", h.Netns, "link", "set", peer, "name", "eth0"},
		{"ip", "-n", h.Netns, "addr", "add", h.Addr + "/24", "dev", "eth0"},
		{"ip", "-n", h.Netns, "link", "set", "eth0", "up"},
		{"ip", "-n", h.Netns, "link", "set", "lo", "up"},
		{"ip", "link", "set", h.Veth, "master", n.Bridge, "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return fmt.Errorf("plug host %s: %w", h.Name, err)
		}
	}
	mac, err := run(ctx, "ip", "netns", "exec", h.Netns, "cat", "/sys/class/net/eth0/address")
	if err != nil {
		return err
	}
	h.MAC = mac
	return nil
}

// makeUser creates the host's unix user with a home that StrictModes accepts
// and the fleet's client key authorized.
func (f *Fleet) makeUser(ctx context.Context, h *Host) error {
	if err := os.MkdirAll(filepath.Dir(h.Home), 0o755); err != nil {
		return err
	}
	// "*" rather than useradd's "!": sshd without PAM refuses locked accounts.
	if _, err := retryLocked(ctx, "useradd", "--no-create-home", "--home-dir", h.Home,
		"--gid", f.Net.Group, "--shell", "/bin/bash", "--password", "*", h.User); err != nil {
		h.User = "" // not ours: do not delete it
		return err
	}
	pub, err := f.clientPublicKey()
	if err != nil {
		return err
	}
	sshDir := filepath.Join(h.Home, ".ssh")
	h.InstallDir = filepath.Join(h.Home, "rbee")
	for _, d := range []string{h.Home, sshDir, h.InstallDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(sshDir, "authorized_keys"), []byte(pub), 0o600); err != nil {
		return err
	}
	_, err = run(ctx, "chown", "-R", h.User+":"+f.Net.Group, h.Home)
	return err
}

// removeHost ends every process in the host's namespace, then removes the
// namespace, its link and its user.
func (n *Network) removeHost(h *Host) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if exists(ctx, "ip", "netns", "pids", h.Netns) {
		errs = append(errs, killNamespace(ctx, h.Netns))
		if _, err := run(ctx, "ip", "netns", "del", h.Netns); err != nil {
			errs = append(errs, err)
		}
	}
	// Deleting the namespace deletes the link too, but asynchronously: it
	// may vanish between the check and the delete.
	if exists(ctx, "ip", "link", "show", h.Veth) {
		if _, err := run(ctx, "ip", "link", "del", h.Veth); err != nil && exists(ctx, "ip", "link", "show", h.Veth) {
			errs = append(errs, err)
		}
	}
	if h.User != "" && exists(ctx, "id", h.User) {
		if _, err := retryLocked(ctx, "userdel", h.User); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killNamespace sends SIGKILL to every process in the namespace and waits
// for them to go.
func killNamespace(ctx context.Context, ns string) error {
	pids := func() []int {
		out, _ := run(ctx, "ip", "netns", "pids", ns)
		var ps []int
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil {
				ps = append(ps, pid)
			}
		}
		return ps
	}
	for _, pid := range pids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return Await(waitCtx, "processes of namespace "+ns+" to exit", func() (bool, string, error) {
		var live []string
		for _, pid := range pids() {
			if running(pid) {
				live = append(live, strconv.Itoa(pid))
			}
		}
		return len(live) == 0, "alive: " + strings.Join(live, ","), nil
	})
}

func exists(ctx context.Context, name string, args ...string) bool {
	_, err := run(ctx, name, args...)
	return err == nil
}

// remove deletes the bridge, the guard route and the group.
func (n *Network) remove() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if n.Bridge != "" && exists(ctx, "ip", "link", "show", n.Bridge) {
		if _, err := run(ctx, "ip", "link", "del", n.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if n.GuardRoute {
		if _, err := run(ctx, "ip", "route", "del", "unreachable", n.Subnet, "metric", "4000"); err != nil && !strings.Contains(err.Error(), "No such process") {
			errs = append(errs, err)
		}
		n.GuardRoute = false
	}
	if n.Group != "" && exists(ctx, "getent", "group", n.Group) {
		if _, err := retryLocked(ctx, "groupdel", n.Group); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Cut makes h unreachable: its link to the bridge goes down and its address
// is pinned to its MAC, so packets to it vanish and connects time out
// (rather than failing fast with "no route to host" once ARP gives up).
func (f *Fleet) Cut(h *Host) error {
	if f.Mode != Netns {
		return errors.New("Cut needs a netns fleet (root): loopback hosts cannot be partitioned")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := run(ctx, "ip", "neigh", "replace", h.Addr, "lladdr", h.MAC, "dev", f.Net.Bridge, "nud", "permanent"); err != nil {
		return err
	}
	if _, err := run(ctx, "ip", "link", "set", h.Veth, "down"); err != nil {
		return err
	}
	h.Cut = true
	return nil
}

// Heal undoes Cut.
func (f *Fleet) Heal(h *Host) error {
	if f.Mode != Netns {
		return errors.New("Heal needs a netns fleet (root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := run(ctx, "ip", "link", "set", h.Veth, "up"); err != nil {
		return err
	}
	if _, err := run(ctx, "ip", "neigh", "del", h.Addr, "dev", f.Net.Bridge); err != nil {
		return err
	}
	h.Cut = false
	return nil
}

// Unreachable returns an address on the fleet's bridge whose TCP connects
// time out.
func (f *Fleet) Unreachable() (string, error) {
	if f.Net == nil {
		return "", errors.New("Unreachable needs a netns fleet (root)")
	}
	return f.Net.UnreachableIP, nil
}
