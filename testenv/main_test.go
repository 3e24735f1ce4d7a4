package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rbee-fleet/rbee/testenv/fleet"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
	"github.com/rbee-fleet/rbee/testenv/require"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gobuild.Cleanup()
	os.Exit(code)
}

// TestUpFleetOutlivesReaping runs the CLI binary's up, which exits, then
// reaps as every test's fleet.New does, as a concurrent `go test` would:
// the fleet of up must still answer over SSH and keep its folder (issue 9
// point 11: it was reaped because the folder's state still named the
// exited up process as its owner). down then removes it.
func TestUpFleetOutlivesReaping(t *testing.T) {
	require.Binary(t, fleet.SSHD, "install it with: bash scripts/install-deps.sh")
	bin := filepath.Join(gobuild.Binaries(t, "", "."), "testenv")
	stateDir := t.TempDir()
	t.Cleanup(func() { downIfUp(t, bin, stateDir) })

	up := testenv(t, bin, stateDir, "up", "--hosts", "1", "--prefix", "cli")
	f := loadState(t, stateDir)
	served, err := exec.Command("git", "--git-dir", f.Git.RepoDir, "rev-parse", "main").Output()
	if err != nil || len(f.Git.Commit) != 40 || strings.TrimSpace(string(served)) != f.Git.Commit ||
		!strings.Contains(up, "serves branch main at commit "+f.Git.Commit) {
		t.Errorf("up printed:\n%s\nwant the commit the git server serves (%s, %v)", up, served, err)
	}

	reaped, err := fleet.ReapStale()
	if err != nil {
		t.Logf("reap: %v", err) // other packages' stale fleets may fail to close; not ours to judge
	}
	if slices.Contains(reaped, f.ID) {
		t.Errorf("ReapStale reaped fleet %s of `testenv up`, which must live until `testenv down`", f.ID)
	}
	if _, err := os.Stat(f.Dir); err != nil {
		t.Fatalf("folder of fleet %s after reaping: %v", f.ID, err)
	}
	if out := runOnHost(t, f, f.Hosts[0], "echo still-here"); out != "still-here" {
		t.Errorf("host answered %q, want %q", out, "still-here")
	}

	testenv(t, bin, stateDir, "down")
	if _, err := os.Stat(f.Dir); !os.IsNotExist(err) {
		t.Errorf("fleet folder %s after down: %v, want it removed", f.Dir, err)
	}
	if f.Hosts[0].SSHD.Alive() {
		t.Errorf("sshd (pid %d) still runs after down", f.Hosts[0].SSHD.Pid)
	}
}

// testenv runs the CLI binary with args and fails the test if it fails.
func testenv(t *testing.T, bin, stateDir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--state-dir", stateDir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("testenv %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// loadState reads the fleet that up saved in stateDir.
func loadState(t *testing.T, stateDir string) *fleet.Fleet {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "fleet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fleet.Fleet
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts) != 1 {
		t.Fatalf("fleet %s has %d hosts, want 1", f.ID, len(f.Hosts))
	}
	return &f
}

// runOnHost runs cmd on h over SSH, checking h's host key, and returns its
// trimmed output.
func runOnHost(t *testing.T, f *fleet.Fleet, h *fleet.Host, cmd string) string {
	t.Helper()
	cfg, err := f.ClientConfig(h, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.Dial("tcp", h.Address(), cfg)
	if err != nil {
		t.Fatalf("ssh to %s (%s) of fleet %s: %v", h.Name, h.Address(), f.ID, err)
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	out, err := session.Output(cmd)
	if err != nil {
		t.Fatalf("run %q on %s: %v", cmd, h.Name, err)
	}
	return strings.TrimSpace(string(out))
}

// downIfUp stops the fleet of stateDir when the test left it up.
func downIfUp(t *testing.T, bin, stateDir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(stateDir, "fleet.json")); err != nil {
		return
	}
	if out, err := exec.Command(bin, "--state-dir", stateDir, "down").CombinedOutput(); err != nil {
		t.Errorf("testenv down: %v\n%s", err, out)
	}
}
