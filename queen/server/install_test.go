package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
)

// buildAgent builds the hive-agent once per test binary, for upload.
func buildAgent(t testing.TB) string {
	t.Helper()
	return filepath.Join(gobuild.Binaries(t, gobuild.VersionFlag("uploadtest01"), "../../hive-agent", "../../hive-agent/rbee-worker"), "hive-agent")
}

// installQueen is an in-process queen listening where the fleet's hosts
// can reach it, with install settings fit for tests.
func installQueen(t testing.TB, listenHost string) *queen {
	t.Helper()
	return installQueenWith(t, listenHost, func(*server.Config) {})
}

// installQueenWith is installQueen with its config changed by set.
func installQueenWith(t testing.TB, listenHost string, set func(*server.Config)) *queen {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "beehives.db")
	reg, err := hiveregistry.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(listenHost, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener = ln
	logs := &lockedBuffer{}
	cfg := server.Config{
		Registry: reg, Token: token, Logger: slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), logs), nil)),
		QueenURL: "http://" + ln.Addr().String(), AgentBinary: buildAgent(t),
		HeartbeatInterval: 200 * time.Millisecond, StaleAfter: 2 * time.Second, HeartbeatTimeout: 30 * time.Second,
	}
	set(&cfg)
	s := server.New(cfg)
	srv.Config.Handler = s.Handler()
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	q := &queen{url: srv.URL, dbPath: dbPath, reg: reg, srv: srv, logs: logs}
	t.Cleanup(func() { cancel(); q.stop() })
	return q
}

func freeAgentPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// addNodes registers every host of f with its own agent port.
func addNodes(t testing.TB, q *queen, f *fleet.Fleet) {
	t.Helper()
	for _, h := range f.Hosts {
		req := addRequest(f, h, h.Name)
		req.AgentPort = h.AgentPort
		var n api.Node
		if st := q.call(t, "POST", "/v1/hives", req, &n); st != http.StatusCreated {
			t.Fatalf("add %s: status %d", h.Name, st)
		}
	}
}

// installNodes runs an install and returns its report and events. The
// report must have one result per node asked for (every node for All), so
// that no check of the results passes on an empty report.
func installNodes(t testing.TB, q *queen, req api.InstallRequest) (api.InstallReport, []api.Event) {
	t.Helper()
	events := q.stream(t, "POST", "/v1/install", req)
	last := events[len(events)-1]
	var rep api.InstallReport
	if err := json.Unmarshal(last.Result, &rep); err != nil {
		t.Fatalf("install result: %v (%+v)", err, last)
	}
	want := len(req.Nodes)
	if req.All {
		want = len(q.nodes(t))
	}
	if len(rep.Results) != want || want == 0 {
		t.Fatalf("install report has %d result(s), want %d (one per node): %+v", len(rep.Results), want, rep.Results)
	}
	return rep, events
}

// requireResults fails the test now unless the report has results and all
// of them are want.
func requireResults(t testing.TB, rep api.InstallReport, want string) {
	t.Helper()
	if len(rep.Results) == 0 {
		t.Fatalf("install report has no results, want %s", want)
	}
	for _, r := range rep.Results {
		if r.Result != want {
			t.Errorf("%s: %s (phase %q, error %+v), want %s", r.Node, r.Result, r.Phase, r.Error, want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func hiveStatus(t testing.TB, q *queen, name string) api.HiveStatus {
	t.Helper()
	var st api.HiveStatus
	if code := q.call(t, "GET", "/v1/hives/"+name+"/status", nil, &st); code != http.StatusOK {
		t.Fatalf("status of %s: %d", name, code)
	}
	return st
}

func awaitStatus(t testing.TB, q *queen, name, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := fleet.Await(ctx, name+" to be "+want, func() (bool, string, error) {
		n := getNode(t, q, name)
		return n.Status == want, n.Status, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInstallLoopback(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 3, Prefix: "inst"})
	q := installQueen(t, "127.0.0.1")
	addNodes(t, q, f)

	rep, events := installNodes(t, q, api.InstallRequest{All: true, Method: "build", Parallel: 3})
	requireResults(t, rep, api.ResultInstalled)
	t.Run("the hive token is only on the node", func(t *testing.T) {
		stream, _ := json.Marshal(events)
		for _, h := range f.Hosts {
			var cfg api.AgentConfig
			data, err := os.ReadFile(filepath.Join(h.InstallDir, "hive-agent.json"))
			if err != nil || json.Unmarshal(data, &cfg) != nil || cfg.HiveToken == "" {
				t.Fatalf("read the config of %s: %v", h.Name, err)
			}
			if info, err := os.Stat(filepath.Join(h.InstallDir, "hive-agent.json")); err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("config mode: %v (%v), want 0600", info, err)
			}
			agentLog, _ := os.ReadFile(filepath.Join(h.InstallDir, "logs", "hive-agent.log"))
			for where, text := range map[string]string{"queen log": q.logs.String(), "install events": string(stream), "agent log": string(agentLog)} {
				if strings.Contains(text, cfg.HiveToken) {
					t.Errorf("the hive token of %s appears in the %s", h.Name, where)
				}
			}
			hash, err := q.reg.HiveTokenHash(t.Context(), h.Name)
			if sum := sha256.Sum256([]byte(cfg.HiveToken)); err != nil || hash != hex.EncodeToString(sum[:]) {
				t.Errorf("stored token hash %q, want the SHA-256 of the token (%v)", hash, err)
			}
		}
	})
	pids := map[string]int{}
	for _, r := range rep.Results {
		st := hiveStatus(t, q, r.Node)
		n := getNode(t, q, r.Node)
		if !st.Healthy || st.AgentPID == 0 || n.Status != api.StatusOnline || n.InstalledCommit == "" ||
			n.InstalledCommit != r.Commit || n.AgentVersion != r.Commit || r.Method != "build" {
			t.Errorf("%s after install: status %+v node %+v result %+v", r.Node, st, n, r)
		}
		pids[r.Node] = st.AgentPID
	}

	t.Run("re-run changes nothing", func(t *testing.T) {
		rep, _ := installNodes(t, q, api.InstallRequest{All: true})
		requireResults(t, rep, api.ResultUpToDate)
		for _, r := range rep.Results {
			if st := hiveStatus(t, q, r.Node); st.AgentPID != pids[r.Node] || r.Method != "" {
				t.Errorf("%s: agent pid %d (was %d), method %q: want the same agent, nothing made", r.Node, st.AgentPID, pids[r.Node], r.Method)
			}
		}
	})

	h := f.Hosts[0]
	t.Run("stop is stopped at once, start comes back", func(t *testing.T) {
		q.stream(t, "POST", "/v1/hives/"+h.Name+"/stop", nil)
		if st := hiveStatus(t, q, h.Name); st.Healthy || st.Status != api.StatusStopped {
			t.Errorf("after stop: %+v, want stopped and not answering", st)
		}
		events := q.stream(t, "POST", "/v1/hives/"+h.Name+"/start", nil)
		if last := events[len(events)-1]; last.Error != nil {
			t.Fatalf("start: %+v", last.Error)
		}
		awaitStatus(t, q, h.Name, api.StatusOnline)
		if st := hiveStatus(t, q, h.Name); !st.Healthy {
			t.Errorf("after start: %+v", st)
		}
	})

	t.Run("upload replaces the binary and restarts", func(t *testing.T) {
		rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{h.Name}, Method: "upload"})
		requireResults(t, rep, api.ResultInstalled)
		if rep.Results[0].Method != "upload" {
			t.Errorf("method %q, want upload", rep.Results[0].Method)
		}
		if n := getNode(t, q, h.Name); n.AgentVersion != "uploadtest01" {
			t.Errorf("agent version %q, want the uploaded binary's", n.AgentVersion)
		}
	})

	h2 := f.Hosts[1]
	t.Run("a changed config restarts without rebuilding", func(t *testing.T) {
		port := freeAgentPort(t)
		oldToken := hiveToken(t, h2) // trusted from the queen's cache: its agent beats with it
		direct := api.TransportHTTP  // the agent port matters to the direct path only
		q.stream(t, "PATCH", "/v1/hives/"+h2.Name, api.UpdateNodeRequest{AgentPort: &port, Transport: &direct})
		rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{h2.Name}})
		requireResults(t, rep, api.ResultInstalled)
		if got := beatWith(t, q, h2.Name, oldToken, 1); got != http.StatusUnauthorized {
			t.Errorf("the hive token the new config replaced, right after the install: %d, want 401", got)
		}
		if r := rep.Results[0]; r.Method != "" || r.AgentPID == pids[h2.Name] {
			t.Errorf("result %+v: want no build and a new agent pid (was %d)", r, pids[h2.Name])
		}
		if st := hiveStatus(t, q, h2.Name); !st.Healthy || !strings.HasSuffix(st.AgentURL, ":"+strconv.Itoa(port)) {
			t.Errorf("status %+v, want healthy on port %d", st, port)
		}
	})

	h3 := f.Hosts[2]
	t.Run("a branch that does not compile keeps the old agent", func(t *testing.T) {
		pushBrokenBranch(t, f.Git.RepoDir)
		before := hiveStatus(t, q, h3.Name)
		branch := "broken"
		q.stream(t, "PATCH", "/v1/hives/"+h3.Name, api.UpdateNodeRequest{GitBranch: &branch})
		rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{h3.Name}, Method: "build"})
		r := rep.Results[0] // installNodes checked there is one
		if r.Result != api.ResultFailed || r.Phase != "get binary" || r.Error == nil ||
			!strings.Contains(r.Error.Message, "broken.go") {
			t.Fatalf("result %+v (error %+v), want a failed build quoting the compiler", r, r.Error)
		}
		after := hiveStatus(t, q, h3.Name)
		if !after.Healthy || after.AgentPID != before.AgentPID {
			t.Errorf("old agent: before %+v after %+v, want it still running", before, after)
		}
		if n := getNode(t, q, h3.Name); n.Status != api.StatusOnline || n.LastInstall.Result != api.ResultFailed ||
			n.LastInstall.Phase != "get binary" {
			t.Errorf("status %q, last install %+v; want online (the old agent beats) and the install failed in get binary",
				n.Status, n.LastInstall)
		}
	})

	t.Run("uninstall keeps only the checkout", func(t *testing.T) {
		oldToken := hiveToken(t, h)
		events := q.stream(t, "POST", "/v1/hives/"+h.Name+"/uninstall", api.UninstallRequest{KeepSource: true})
		if last := events[len(events)-1]; last.Error != nil {
			t.Fatalf("uninstall: %+v", last.Error)
		}
		if got := beatWith(t, q, h.Name, oldToken, 1); got != http.StatusUnauthorized {
			t.Errorf("the uninstalled agent's hive token, right after the uninstall: %d, want 401", got)
		}
		for _, gone := range []string{"bin", "run", "logs", "hive-agent.json"} {
			if _, err := os.Stat(filepath.Join(h.InstallDir, gone)); !os.IsNotExist(err) {
				t.Errorf("%s still there after uninstall (%v)", gone, err)
			}
		}
		if _, err := os.Stat(filepath.Join(h.InstallDir, ".git")); err != nil {
			t.Errorf("checkout gone with --keep-source: %v", err)
		}
		if st := hiveStatus(t, q, h.Name); st.Healthy {
			t.Errorf("agent still answers after uninstall: %+v", st)
		}
	})
}

// TestInstallHostilePath installs to a path with a space and a quote and
// checks nothing was injected.
func TestInstallHostilePath(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "hostile"})
	h := f.Hosts[0]
	q := installQueen(t, "127.0.0.1")
	marker := filepath.Join(h.InstallDir, "INJECTED")
	req := addRequest(f, h, "hostile")
	req.InstallPath = filepath.Join(h.InstallDir, "it's a \"dir\" $(touch "+marker+")")
	req.AgentPort = freeAgentPort(t)
	if st := q.call(t, "POST", "/v1/hives", req, nil); st != http.StatusCreated {
		t.Fatalf("add: status %d", st)
	}
	rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{"hostile"}, Method: "upload"})
	requireResults(t, rep, api.ResultInstalled)
	if _, err := os.Stat(filepath.Join(req.InstallPath, "bin", "hive-agent")); err != nil {
		t.Errorf("agent not at the literal path: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a command in the install path ran: %s exists", marker)
	}
	if st := hiveStatus(t, q, "hostile"); !st.Healthy {
		t.Errorf("status %+v", st)
	}
}

// pushBrokenBranch adds a branch "broken" whose agent does not compile.
func pushBrokenBranch(t testing.TB, bare string) {
	t.Helper()
	work := t.TempDir()
	env := append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	for _, args := range [][]string{
		{"clone", "-q", bare, work},
		{"-C", work, "checkout", "-q", "-b", "broken"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "hive-agent", "broken.go"), []byte("package main\n\nvar _ = this does not compile\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-C", work, "add", "-A"},
		{"-C", work, "commit", "-q", "-m", "break the agent"},
		{"-C", work, "push", "-q", "origin", "broken"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}
