package server_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
	"github.com/rbee-fleet/rbee/testenv/require"
)

// These tests change HOME and SSH_AUTH_SOCK, so they do not run in parallel.

// TestSSHConfigAlias adds a node by an ~/.ssh/config alias that supplies
// HostName, Port, User and IdentityFile.
func TestSSHConfigAlias(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "alias"})
	h := f.Hosts[0]
	writeSSHConfig(t, fmt.Sprintf("Host myalias\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n",
		h.Addr, h.Port, h.User, f.ClientKeyPath))
	q := startQueen(t, filepath.Join(t.TempDir(), "beehives.db"))
	req := api.AddNodeRequest{Name: "by-alias", SSHHost: "myalias", GitRepoURL: f.Git.URL, InstallPath: h.InstallDir}
	events := q.stream(t, "POST", "/v1/hives", req)
	if last := events[len(events)-1]; last.Error != nil {
		t.Fatalf("add by alias: %+v", last.Error)
	}
	n := getNode(t, q, "by-alias")
	if n.SSHHost != "myalias" || n.SSHPort != h.Port || n.SSHUser != h.User || n.SSHKeyPath != f.ClientKeyPath || n.HostKey != h.HostKey {
		t.Errorf("stored %+v; want alias kept, port %d, user %s, key %s from the config", n, h.Port, h.User, f.ClientKeyPath)
	}
}

// TestSSHAgent adds a node with no key file: the key is in a real ssh-agent.
func TestSSHAgent(t *testing.T) {
	for _, bin := range []string{"ssh-agent", "ssh-add"} {
		require.Binary(t, bin, "install it with: apt-get install openssh-client")
	}
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "agent"})
	h := f.Hosts[0]
	writeSSHConfig(t, "")
	startAgent(t, f.ClientKeyPath)
	q := startQueen(t, filepath.Join(t.TempDir(), "beehives.db"))
	req := addRequest(f, h, "by-agent")
	req.SSHKeyPath = ""
	events := q.stream(t, "POST", "/v1/hives", req)
	if last := events[len(events)-1]; last.Error != nil {
		t.Fatalf("add with ssh-agent: %+v", last.Error)
	}
	if n := getNode(t, q, "by-agent"); n.SSHKeyPath != "" || n.Status != api.StatusReachable {
		t.Errorf("stored %+v, want no key path and status reachable", n)
	}
}

// TestProxyJumpNetns reaches a host through a jump host. The target is the
// jump host's own sshd on its namespace's 127.0.0.1, which only programs
// inside that namespace can reach: the queen's own 127.0.0.1:22 has nothing.
func TestProxyJumpNetns(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Netns, Hosts: 1, Prefix: "jump"})
	jump := f.Hosts[0]
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:22", time.Second); err == nil {
		conn.Close()
		require.Missing(t, "a free 127.0.0.1:22 (something listens there, so the target would be reachable directly)",
			"stop the service on 127.0.0.1:22 of the machine running the tests")
	}
	writeSSHConfig(t, fmt.Sprintf(`Host jumper
  HostName %s
  User %s
  IdentityFile %s
Host behind
  HostName 127.0.0.1
  Port 22
  User %s
  IdentityFile %s
  ProxyJump jumper
`, jump.Addr, jump.User, f.ClientKeyPath, jump.User, f.ClientKeyPath))
	q := startQueen(t, filepath.Join(t.TempDir(), "beehives.db"))
	req := api.AddNodeRequest{Name: "behind", SSHHost: "behind", GitRepoURL: f.Git.URL, InstallPath: "~/rbee"}
	events := q.stream(t, "POST", "/v1/hives", req)
	if last := events[len(events)-1]; last.Error != nil {
		t.Fatalf("add through ProxyJump: %+v", last.Error)
	}
	n := getNode(t, q, "behind")
	if n.HostKey != jump.HostKey || n.InstallPath != jump.Home+"/rbee" || n.SSHPort != 22 {
		t.Errorf("stored %+v; want the jump host's sshd key, install path %s/rbee", n, jump.Home)
	}
	// The pinned key holds on the next connection through the jump host too.
	events = q.stream(t, "POST", "/v1/hives/behind/preflight", nil)
	if last := events[len(events)-1]; last.Error != nil {
		t.Fatalf("preflight through ProxyJump: %+v", last.Error)
	}
}

// writeSSHConfig gives the test a HOME of its own with ~/.ssh/config.
func writeSSHConfig(t *testing.T, config string) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startAgent runs a real ssh-agent holding key and points SSH_AUTH_SOCK at it.
func startAgent(t *testing.T, key string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("start ssh-agent: %v", err)
	}
	t.Cleanup(func() {
		_ = agent.Process.Kill()
		_ = agent.Wait()
	})
	err := fleet.Await(t.Context(), "ssh-agent socket", func() (bool, string, error) {
		_, err := os.Stat(sock)
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	if out, err := exec.Command("ssh-add", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	if out, _ := exec.Command("ssh-add", "-l").Output(); !strings.Contains(string(out), "ED25519") {
		t.Fatalf("agent holds %q, want the ed25519 key", out)
	}
}
