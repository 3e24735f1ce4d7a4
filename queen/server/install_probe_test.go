package server_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
	"github.com/rbee-fleet/rbee/testenv/require"
)

// TestInstallProbeRefusals checks that install refuses in the probe phase,
// with the reason and the fix, when the node lacks git, lacks go for a
// build, or cannot take the install.
func TestInstallProbeRefusals(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "probe"})
	h := f.Hosts[0]
	q := installQueen(t, "127.0.0.1")
	req := addRequest(f, h, "probe-1")
	req.AgentPort = h.AgentPort
	if st := q.call(t, "POST", "/v1/hives", req, nil); st != http.StatusCreated {
		t.Fatalf("add: status %d", st)
	}
	base := []string{"sh", "uname", "id", "dirname", "df", "awk", "cat", "sed", "cut", "tr", "grep", "mkdir",
		"setsid", "nohup", "sha256sum", "tail", "rm", "mv", "sleep"}
	tests := []struct {
		name     string
		tools    []string
		method   string
		wantMsg  string
		wantHint string
	}{
		{"git missing", base, "auto", "git is missing", "install git"},
		{"go missing for a build", append(base, "git"), "build", "go is missing", "--method upload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.SetSessionEnv(t.Context(), h, "PATH="+toolDir(t, tt.tools)); err != nil {
				t.Fatal(err)
			}
			// sshd applies the session environment per connection: a
			// preflight replaces the pooled connection with a fresh one.
			q.stream(t, "POST", "/v1/hives/probe-1/preflight", nil)
			rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{"probe-1"}, Method: tt.method})
			r := rep.Results[0]
			if r.Result != api.ResultFailed || r.Phase != "probe" || r.Error == nil ||
				!strings.Contains(r.Error.Message, tt.wantMsg) || !strings.Contains(r.Error.Hint, tt.wantHint) {
				t.Errorf("result %+v error %+v; want a probe refusal %q with hint %q", r, r.Error, tt.wantMsg, tt.wantHint)
			}
			if _, err := os.Stat(filepath.Join(h.InstallDir, ".git")); err == nil {
				t.Errorf("a refused install cloned anyway")
			}
		})
	}
}

// TestInstallProbeRefusalsNetns checks the refusals that need an
// unprivileged user or a small file system: an install path the user cannot
// write, and a disk too full for a build.
func TestInstallProbeRefusalsNetns(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Netns, Hosts: 1, Prefix: "nprobe"})
	h := f.Hosts[0]
	q := installQueen(t, f.Net.BridgeIP)
	small := filepath.Join(h.Home, "small")
	mountSmallFS(t, h, small)
	tests := []struct {
		name, path, wantMsg, wantHint string
	}{
		{"not writable", "/var/lib/rbee-" + f.ID, "not writable", "install -d"},
		{"disk full", filepath.Join(small, "rbee"), "MiB free", "free some space"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("nprobe-%d", i)
			req := addRequest(f, h, name)
			req.InstallPath, req.AgentPort = tt.path, h.AgentPort
			if st := q.call(t, "POST", "/v1/hives", req, nil); st != http.StatusCreated {
				t.Fatalf("add: status %d", st)
			}
			rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{name}, Method: "build"})
			r := rep.Results[0]
			if r.Result != api.ResultFailed || r.Phase != "probe" || r.Error == nil ||
				!strings.Contains(r.Error.Message, tt.wantMsg) || !strings.Contains(r.Error.Hint, tt.wantHint) {
				t.Errorf("result %+v error %+v; want a probe refusal %q with hint %q", r, r.Error, tt.wantMsg, tt.wantHint)
			}
		})
	}
}

// toolDir makes a folder of links to the named commands only, for a PATH
// that lacks everything else.
func toolDir(t *testing.T, tools []string) string {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range tools {
		target, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("find %s: %v", tool, err)
		}
		if err := os.Symlink(target, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// mountSmallFS mounts a 16 MiB tmpfs at dir, owned by user, in the mount
// namespace of h's sshd (`ip netns exec` gives it one of its own), until the
// test ends.
func mountSmallFS(t *testing.T, h *fleet.Host, dir string) {
	t.Helper()
	require.Binary(t, "nsenter", "install it with: apt-get install util-linux")
	in := func(args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"--target", strconv.Itoa(h.SSHD.Pid), "--mount", "--"}, args...)...)
	}
	if out, err := in("mkdir", "-p", dir).CombinedOutput(); err != nil {
		t.Fatalf("mkdir: %v: %s", err, out)
	}
	if out, err := in("mount", "-t", "tmpfs", "-o", "size=16m", "rbee-small", dir).CombinedOutput(); err != nil {
		require.Missing(t, fmt.Sprintf("a tmpfs mount (%v: %s)", err, out), "run the tests as root, with CAP_SYS_ADMIN")
	}
	t.Cleanup(func() {
		if out, err := in("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	if out, err := in("chown", h.User, dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
}
