package main

// End-to-end tests: the real queen binary (`queen serve` as a process and
// `queen setup …` as processes) against real sshd hosts from testenv.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gobuild.Cleanup()
	os.Exit(code)
}

// buildQueen builds the queen once per test binary, with the agent next to
// it, where install's upload finds it.
func buildQueen(t testing.TB) string {
	t.Helper()
	return filepath.Join(gobuild.Binaries(t, "", ".", "../hive-agent", "../hive-agent/rbee-worker"), "queen")
}

// daemon is a `queen serve` process.
type daemon struct {
	url, dataDir, logPath string
	cmd                   *exec.Cmd
	exited                chan struct{}
}

func startDaemon(t testing.TB, dataDir string, extra ...string) *daemon {
	t.Helper()
	return startDaemonAt(t, dataDir, freeAddr(t), extra...)
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDaemonAt starts `queen serve` on addr with dataDir and extra flags
// and waits until it answers health.
func startDaemonAt(t testing.TB, dataDir, addr string, extra ...string) *daemon {
	t.Helper()
	bin := buildQueen(t)
	d := &daemon{url: "http://" + addr, dataDir: dataDir, logPath: filepath.Join(t.TempDir(), "queen.log"), exited: make(chan struct{})}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	d.cmd = exec.Command(bin, append([]string{"serve", "--listen", addr, "--data-dir", dataDir}, extra...)...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(d.logPath)
			t.Logf("queen log:\n%s", log)
		}
		d.kill()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = fleet.Await(ctx, "queen health at "+d.url, func() (bool, string, error) {
		select {
		case <-d.exited:
			return false, "", errors.New("queen exited")
		default:
		}
		resp, err := http.Get(d.url + "/v1/health")
		if err != nil {
			return false, err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status, nil
	})
	if err != nil {
		log, _ := os.ReadFile(d.logPath)
		t.Fatalf("%v\nqueen log:\n%s", err, log)
	}
	return d
}

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop(t testing.TB) int {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("queen did not exit within 15s of SIGTERM")
	}
	return d.cmd.ProcessState.ExitCode()
}

func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	<-d.exited
}

// cli runs `queen ARGS…` against d with env added, and returns its output.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

func runCLI(t testing.TB, d *daemon, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(buildQueen(t), append([]string{"--queen-url", d.url, "--data-dir", d.dataDir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if exitErr, ok := errors.AsType[*exec.ExitError](err); ok {
		r.code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("run queen %v: %v", args, err)
	}
	return r
}

func listNodes(t testing.TB, d *daemon) []api.Node {
	t.Helper()
	r := runCLI(t, d, nil, "--json", "setup", "list-nodes")
	if r.code != 0 {
		t.Fatalf("list-nodes: exit %d: %s", r.code, r.stderr)
	}
	var l api.HiveList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("list-nodes --json: %v: %q", err, r.stdout)
	}
	return l.Nodes
}

func e2eAddNodeArgs(f *fleet.Fleet, h *fleet.Host, name string) []string {
	args := append([]string{"setup", "add-node"}, f.AddNodeFlags(h)...)
	args[3] = name // --name value
	return append(args, "--connect-timeout", "5s")
}

func TestCLIAgainstRealSSHD(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "cli"})
	h := f.Hosts[0]
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))

	t.Run("add-node with a ~ key path", func(t *testing.T) {
		home := t.TempDir()
		key := filepath.Join(home, ".ssh", "id_test")
		copyKey(t, f.ClientKeyPath, key, 0o600)
		args := e2eAddNodeArgs(f, h, "gpu-1")
		args = replaceFlag(args, "--ssh-key", "~/.ssh/id_test")
		r := runCLI(t, d, []string{"HOME=" + home}, args...)
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"🔌 Testing SSH connection to " + h.Addr, "✅ SSH connection successful! Node 'gpu-1' saved to registry"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
		nodes := listNodes(t, d)
		if len(nodes) != 1 || nodes[0].SSHKeyPath != key || nodes[0].Status != api.StatusReachable {
			t.Errorf("stored %+v, want key path %s (expanded, absolute), status reachable", nodes, key)
		}
		human := runCLI(t, d, nil, "setup", "list-nodes")
		if !strings.Contains(human.stdout, "gpu-1") || !strings.Contains(human.stdout, "reachable") {
			t.Errorf("list-nodes:\n%s", human.stdout)
		}
	})

	cases := []struct {
		name     string
		env      []string
		args     func() []string
		wantErr  []string
		notInErr string
	}{
		{"duplicate name", nil, func() []string { return e2eAddNodeArgs(f, h, "gpu-1") },
			[]string{"already exists", "update-node", "remove-node"}, ""},
		{"missing key", nil, func() []string {
			return replaceFlag(e2eAddNodeArgs(f, h, "nokey"), "--ssh-key", "/nonexistent/id_ed25519")
		}, []string{"SSH key not found: /nonexistent/id_ed25519"}, ""},
		{"key readable by others", nil, func() []string {
			key := filepath.Join(t.TempDir(), "id_open")
			copyKey(t, f.ClientKeyPath, key, 0o644)
			return replaceFlag(e2eAddNodeArgs(f, h, "openkey"), "--ssh-key", key)
		}, []string{"chmod 600"}, ""},
		{"invalid name", nil, func() []string { return e2eAddNodeArgs(f, h, "Bad_Name") }, []string{"name"}, ""},
		{"wrong token", []string{"RBEE_TOKEN=not-the-token-s3cr3t"}, func() []string { return e2eAddNodeArgs(f, h, "tok") },
			[]string{"RBEE_TOKEN"}, "not-the-token-s3cr3t"},
		{"unknown node removal", nil, func() []string { return []string{"setup", "remove-node", "--name", "ghost"} },
			[]string{"ghost", "not found"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := listNodes(t, d)
			r := runCLI(t, d, tc.env, tc.args()...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if tc.notInErr != "" && strings.Contains(r.stdout+r.stderr, tc.notInErr) {
				t.Errorf("output shows the token:\n%s%s", r.stdout, r.stderr)
			}
			if after := listNodes(t, d); !sameNodes(before, after) {
				t.Errorf("registry changed:\n%+v\n%+v", before, after)
			}
		})
	}

	t.Run("queen not running", func(t *testing.T) {
		down := &daemon{url: "http://" + closedAddr(t), dataDir: d.dataDir}
		r := runCLI(t, down, nil, "setup", "list-nodes")
		if r.code != 1 || !strings.Contains(r.stderr, "cannot reach queen at "+down.url) || !strings.Contains(r.stderr, "queen serve") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})

	t.Run("graceful restart keeps the row, remove-node removes it", func(t *testing.T) {
		before := listNodes(t, d)
		if code := d.stop(t); code != 0 {
			t.Errorf("queen exited %d on SIGTERM, want 0", code)
		}
		d2 := startDaemon(t, d.dataDir)
		if after := listNodes(t, d2); !sameNodes(before, after) {
			t.Errorf("after restart:\n%+v\nwant\n%+v", after, before)
		}
		r := runCLI(t, d2, nil, "setup", "remove-node", "--name", "gpu-1")
		if r.code != 0 || !strings.Contains(r.stdout, "gpu-1") {
			t.Errorf("remove-node: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if nodes := listNodes(t, d2); len(nodes) != 0 {
			t.Errorf("nodes after remove: %+v", nodes)
		}
	})
}

// TestCrashDuringAdds kills the queen with SIGKILL while 50 adds are in
// flight: after a restart the database is intact and every add that was
// answered 201 has its row.
func TestCrashDuringAdds(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "crash"})
	h := f.Hosts[0]
	dataDir := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, dataDir)
	token := readToken(t, dataDir)

	var mu sync.Mutex
	created := map[string]bool{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			name := fmt.Sprintf("crash-%d", i)
			body, _ := json.Marshal(api.AddNodeRequest{Name: name, SSHHost: h.Addr, SSHPort: h.Port, SSHUser: h.User,
				SSHKeyPath: f.ClientKeyPath, GitRepoURL: f.Git.URL, InstallPath: h.InstallDir})
			req, _ := http.NewRequest("POST", d.url+"/v1/hives", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // the queen died under this request
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				mu.Lock()
				created[name] = true
				mu.Unlock()
			}
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := fleet.Await(ctx, "some adds to land", func() (bool, string, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(created) >= 5, fmt.Sprintf("%d created", len(created)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d.kill()
	wg.Wait()
	mu.Lock()
	acknowledged := len(created)
	mu.Unlock()
	t.Logf("%d of 50 adds acknowledged before SIGKILL", acknowledged)

	d2 := startDaemon(t, dataDir)
	nodes := listNodes(t, d2)
	stored := map[string]bool{}
	for _, n := range nodes {
		stored[n.NodeName] = true
	}
	for name := range created {
		if !stored[name] {
			t.Errorf("%s was acknowledged with 201 but is not in the registry after the crash", name)
		}
	}
	if d2.stop(t) != 0 {
		t.Error("queen did not exit 0 on SIGTERM")
	}
	reg, err := hiveregistry.Open(t.Context(), filepath.Join(dataDir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if res, err := reg.IntegrityCheck(t.Context()); err != nil || res != "ok" {
		t.Errorf("integrity_check = %q, %v; want ok", res, err)
	}
}

func readToken(t testing.TB, dataDir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dataDir, tokenFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v, want 0600", info.Mode().Perm())
	}
	return strings.TrimSpace(string(data))
}

func replaceFlag(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == flag && i+1 < len(out) {
			out[i+1] = value
		}
	}
	return out
}

func copyKey(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatal(err)
	}
}

func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func sameNodes(a, b []api.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		// The pooled SSH connection belongs to the queen process, not the row.
		x.Connection, y.Connection = api.SSHConnection{}, api.SSHConnection{}
		if x != y {
			return false
		}
	}
	return true
}

// TestCLIInstall installs by upload through the queen binary and its CLI:
// the result table, the idempotent re-run, hive status and stop.
func TestCLIInstall(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 2, Prefix: "cinst"})
	d := startDaemon(t, filepath.Join(t.TempDir(), "data"))
	for _, h := range f.Hosts {
		if r := runCLI(t, d, nil, append([]string{"setup", "add-node"}, f.AddNodeFlags(h)...)...); r.code != 0 {
			t.Fatalf("add-node %s: %s", h.Name, r.stderr)
		}
	}
	r := runCLI(t, d, nil, "setup", "install", "--all", "--method", "upload")
	if r.code != 0 || !strings.Contains(r.stdout, "2 installed, 0 up to date, 0 failed") {
		t.Fatalf("install: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, d, nil, "setup", "install", "--all", "--method", "upload")
	if r.code != 0 || !strings.Contains(r.stdout, "0 installed, 2 up to date, 0 failed") {
		t.Errorf("re-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	h := f.Hosts[0]
	if r := runCLI(t, d, nil, "hive", "status", "--node", h.Name); r.code != 0 || !strings.Contains(r.stdout, "online") {
		t.Errorf("hive status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, d, nil, "hive", "stop", "--node", h.Name); r.code != 0 {
		t.Errorf("hive stop: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, d, nil, "setup", "install", "--node", "ghost"); r.code != 1 || !strings.Contains(r.stderr, "ghost") {
		t.Errorf("install of an unknown node: exit %d\n%s", r.code, r.stderr)
	}
	h2 := f.Hosts[1]
	if r := runCLI(t, d, nil, "setup", "remove-node", "--name", h2.Name, "--uninstall"); r.code != 0 {
		t.Errorf("remove-node --uninstall: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The install path existed (empty) before install: uninstall empties it
	// and keeps the folder itself, which the user made.
	if entries, err := os.ReadDir(h2.InstallDir); err != nil || len(entries) != 0 {
		t.Errorf("install path of %s after remove-node --uninstall: %d entries (%v), want it empty", h2.Name, len(entries), err)
	}
	if nodes := listNodes(t, d); len(nodes) != 1 || nodes[0].NodeName != h.Name {
		t.Errorf("nodes after remove-node: %+v", nodes)
	}
}
