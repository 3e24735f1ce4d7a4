package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/rbee-fleet/rbee/testenv/fleet"
)

func TestLoopbackFleet(t *testing.T) {
	t.Parallel()
	testFleet(t, fleet.Loopback)
}

func TestNetnsFleet(t *testing.T) {
	t.Parallel()
	f := testFleet(t, fleet.Netns)
	testPartition(t, f)
}

// testFleet starts 3 hosts and checks, on each, login as the expected user,
// SFTP, a git clone from the fleet's git server and an offline go build;
// then that Close leaves nothing behind.
func testFleet(t *testing.T, mode fleet.Mode) *fleet.Fleet {
	f := fleet.New(t, fleet.Options{Mode: mode, Hosts: 3})
	if len(f.Hosts) != 3 {
		t.Fatalf("got %d hosts, want 3", len(f.Hosts))
	}
	var strays []int
	for _, h := range f.Hosts {
		t.Run(h.Name, func(t *testing.T) {
			client := dial(t, f, h)
			checkLogin(t, client, h, mode, f)
			checkSFTP(t, client, h)
			checkCloneAndBuild(t, client, h, f)
			strays = append(strays, startStray(t, client, h))
		})
	}
	defer func() {
		checkNothingLeft(t, f)
		for _, pid := range strays {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
				if out, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(out), ") Z") {
					t.Errorf("a daemon started on a host (pid %d) survived Close", pid)
				}
			}
		}
	}()
	if t.Failed() {
		t.Logf("fleet logs:\n%s", f.Logs())
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return f
}

func dial(t *testing.T, f *fleet.Fleet, h *fleet.Host) *ssh.Client {
	t.Helper()
	cfg, err := f.ClientConfig(h, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.Dial("tcp", h.Address(), cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Address(), err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func checkLogin(t *testing.T, c *ssh.Client, h *fleet.Host, mode fleet.Mode, f *fleet.Fleet) {
	t.Helper()
	got := strings.Fields(runRemote(t, c, `id -un; echo "$HOME"`))
	want := []string{h.User, h.Home}
	if mode == fleet.Loopback && h.User != f.ClientUser {
		t.Errorf("loopback host user %q, want the current user %q", h.User, f.ClientUser)
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("id -un; echo $HOME = %q, want %q", got, want)
	}
}

func checkSFTP(t *testing.T, c *ssh.Client, h *fleet.Host) {
	t.Helper()
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatalf("sftp: %v", err)
	}
	defer sc.Close()
	p := path.Join(h.InstallDir, "probe.txt")
	want := []byte("written over sftp to " + h.Name + "\n")
	w, err := sc.Create(p)
	if err != nil {
		t.Fatalf("sftp create %s: %v", p, err)
	}
	if _, err := w.Write(want); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := sc.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("read back %q, want %q", got.Bytes(), want)
	}
	// The file is really on the host, owned by the host's user.
	if owner := strings.TrimSpace(runRemote(t, c, "stat -c %U "+p)); owner != h.User {
		t.Errorf("owner of %s = %q, want %q", p, owner, h.User)
	}
}

// checkCloneAndBuild clones the project from the git server and builds the
// hive agent and a program with a module dependency, with no network.
func checkCloneAndBuild(t *testing.T, c *ssh.Client, h *fleet.Host, f *fleet.Fleet) {
	t.Helper()
	src := path.Join(h.InstallDir, "src")
	runRemote(t, c, "git clone -q --branch main "+f.Git.URL+" "+src)
	out := runRemote(t, c, "cd "+src+" && go build -o /dev/null ./hive-agent && echo built")
	if !strings.Contains(out, "built") {
		t.Errorf("go build ./hive-agent on %s: %q", h.Name, out)
	}
	tiny := path.Join(h.InstallDir, "tiny")
	prog := `package main

import (
	"fmt"

	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.Go(func() error { return nil })
	fmt.Println("tiny ok", g.Wait() == nil)
}
`
	runRemote(t, c, "mkdir -p "+tiny+" && cat > "+tiny+"/main.go <<'EOF'\n"+prog+"EOF\n")
	runRemote(t, c, "cd "+tiny+" && printf 'module tiny\\n\\ngo 1.26\\n\\nrequire golang.org/x/sync v0.25.0\\n' > go.mod")
	out = runRemote(t, c, "cd "+tiny+" && go env GOPROXY && go build -o tiny . && ./tiny")
	if !strings.Contains(out, "file://") || !strings.Contains(out, "tiny ok true") {
		t.Errorf("offline build of a program with a module dependency on %s: %q", h.Name, out)
	}
}

// startStray starts a detached daemon on the host the way an install
// would, and returns its pid.
func startStray(t *testing.T, c *ssh.Client, h *fleet.Host) int {
	t.Helper()
	out := runRemote(t, c, "cd "+h.InstallDir+"; setsid nohup sleep 600 </dev/null >/dev/null 2>&1 & echo $!")
	var pid int
	if _, err := fmt.Sscan(out, &pid); err != nil || pid <= 0 {
		t.Fatalf("start a daemon on %s: %q", h.Name, out)
	}
	return pid
}

func runRemote(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	if err := s.Run(cmd); err != nil {
		t.Fatalf("run %q: %v\nstdout: %s\nstderr: %s", cmd, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// testPartition checks Cut, Heal and Unreachable on a fresh netns fleet.
func testPartition(t *testing.T, _ *fleet.Fleet) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Netns, Hosts: 1, Prefix: "cut"})
	h := f.Hosts[0]
	dial(t, f, h).Close()
	testFirewall(t, f, h)
	testUnroute(t, f, h)
	testSSHDOptions(t, f, h)
	if err := f.Cut(h); err != nil {
		t.Fatal(err)
	}
	expectTimeout(t, h.Address())
	expectTimeout(t, h.Address()) // still cut after longer than ARP gives up
	if err := f.Heal(h); err != nil {
		t.Fatal(err)
	}
	dial(t, f, h).Close()
	addr, err := f.Unreachable()
	if err != nil {
		t.Fatal(err)
	}
	// Several attempts, longer than ARP's 3s give-up, must all time out.
	for range 3 {
		expectTimeout(t, net.JoinHostPort(addr, "22"))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, f)
}

func expectTimeout(t *testing.T, addr string) {
	t.Helper()
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s succeeded, want a timeout", addr)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial %s: %v, want a timeout (not refused or unreachable)", addr, err)
	}
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Errorf("dial %s failed after %v, want the full 2s timeout", addr, d)
	}
}

// checkNothingLeft asserts that no process, namespace, link, user or folder
// of the fleet survived Close.
func checkNothingLeft(t *testing.T, f *fleet.Fleet) {
	t.Helper()
	ctx := context.Background()
	for _, h := range f.Hosts {
		if h.SSHD != nil && h.SSHD.Alive() {
			t.Errorf("sshd of %s (pid %d) still alive", h.Name, h.SSHD.Pid)
		}
		if h.Netns != "" {
			if out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output(); strings.Contains(string(out), h.Netns) {
				t.Errorf("namespace %s still exists", h.Netns)
			}
			if exec.CommandContext(ctx, "ip", "link", "show", h.Veth).Run() == nil {
				t.Errorf("link %s still exists", h.Veth)
			}
			if exec.CommandContext(ctx, "id", h.User).Run() == nil {
				t.Errorf("user %s still exists", h.User)
			}
		}
	}
	if f.Git != nil && f.Git.Daemon.Alive() {
		t.Errorf("git daemon (pid %d) still alive", f.Git.Daemon.Pid)
	}
	if f.Net != nil {
		if exec.CommandContext(ctx, "ip", "link", "show", f.Net.Bridge).Run() == nil {
			t.Errorf("bridge %s still exists", f.Net.Bridge)
		}
		if out, _ := exec.CommandContext(ctx, "ip", "route", "show", "table", "all").Output(); strings.Contains(string(out), strings.TrimSuffix(f.Net.Subnet, "0/24")) {
			t.Errorf("route for %s still exists:\n%s", f.Net.Subnet, out)
		}
		if exec.CommandContext(ctx, "getent", "group", f.Net.Group).Run() == nil {
			t.Errorf("group %s still exists", f.Net.Group)
		}
	}
	if _, err := os.Stat(f.Dir); !os.IsNotExist(err) {
		t.Errorf("fleet folder %s still exists (stat: %v)", f.Dir, err)
	}
}

// testFirewall checks that Firewall drops connects to a port other than
// the allowed one (they were refused before), while SSH still works.
func testFirewall(t *testing.T, f *fleet.Fleet, h *fleet.Host) {
	closed := net.JoinHostPort(h.Addr, "7835")
	if _, err := net.DialTimeout("tcp", closed, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s before the firewall: %v, want refused (nothing listens)", closed, err)
	}
	if err := f.Firewall(h, 22); err != nil {
		t.Fatal(err)
	}
	expectTimeout(t, closed)
	dial(t, f, h).Close()
}

// testUnroute checks that after Unroute the host has no route to the
// queen's address, and still answers SSH from the bridge's.
func testUnroute(t *testing.T, f *fleet.Fleet, h *fleet.Host) {
	routeGet := func() error {
		return exec.Command("ip", "-n", h.Netns, "route", "get", f.Net.QueenIP).Run()
	}
	if err := routeGet(); err != nil {
		t.Fatalf("route to the queen's address %s before Unroute: %v", f.Net.QueenIP, err)
	}
	if err := f.Unroute(h, f.Net.QueenIP); err != nil {
		t.Fatal(err)
	}
	if err := routeGet(); err == nil {
		t.Errorf("%s still has a route to %s after Unroute", h.Name, f.Net.QueenIP)
	}
	dial(t, f, h).Close()
}

// testSSHDOptions checks that SetSSHDOptions reaches sshd: with
// DisableForwarding a direct-tcpip channel is refused; without, it opens.
func testSSHDOptions(t *testing.T, f *fleet.Fleet, h *fleet.Host) {
	ctx := t.Context()
	if err := f.SetSSHDOptions(ctx, h, "DisableForwarding yes"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, f, h)
	_, err := c.Dial("tcp", "127.0.0.1:22")
	c.Close()
	var oe *ssh.OpenChannelError
	if !errors.As(err, &oe) || oe.Reason != ssh.Prohibited {
		t.Errorf("channel with DisableForwarding yes: %v, want administratively prohibited", err)
	}
	if err := f.SetSSHDOptions(ctx, h); err != nil {
		t.Fatal(err)
	}
	c = dial(t, f, h)
	defer c.Close()
	conn, err := c.Dial("tcp", "127.0.0.1:22")
	if err != nil {
		t.Fatalf("channel after the options were removed: %v", err)
	}
	conn.Close()
}
