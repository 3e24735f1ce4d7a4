package main

// HA end-to-end test of http transport agents: the agent's config lists
// both queens (queen_urls) and the agent moves to the one that answers as
// active.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
	"github.com/rbee-fleet/rbee/testenv/pgtest"
)

// startPeerPair starts two queens on dsn at known addresses, each with the
// other as --peer-url, queen 0 active and queen 1 its standby.
func startPeerPair(t *testing.T, dsn string, args ...string) *haPair {
	t.Helper()
	p := &haPair{dsn: dsn}
	addrs := [2]string{freeAddr(t), freeAddr(t)}
	for i := range p.dirs {
		p.dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("queen-%d", i))
	}
	start := func(i int) {
		flags := append([]string{"--store", dsn, "--peer-url", "http://" + addrs[1-i]}, args...)
		p.queens[i] = startDaemonAt(t, p.dirs[i], addrs[i], flags...)
	}
	start(0)
	p.token = readToken(t, p.dirs[0])
	waitRole(t, p.queens[0], api.RoleActive, 10*time.Second)
	if err := os.MkdirAll(p.dirs[1], 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dirs[1], tokenFile), []byte(p.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start(1)
	waitRole(t, p.queens[1], api.RoleStandby, 10*time.Second)
	return p
}

// TestHAHTTPAgentFollowsActive: a node on the http transport installed by
// the active queen of a pair gets both queens in its config; after kill -9
// of the active queen, the agent's heartbeats reach the new active queen
// within a few intervals, which then shows the node online with its
// worker, and the agent was not restarted.
func TestHAHTTPAgentFollowsActive(t *testing.T) {
	c := pgtest.Start(t)
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "hah"})
	h := f.Hosts[0]
	const beat = 300 * time.Millisecond
	p := startPeerPair(t, c.NewDatabase(t), "--lease-poll", "250ms", "--lease-ttl", "2s",
		"--heartbeat-interval", beat.String(), "--stale-after", "3s")
	cl := p.client()
	_, port, _ := strings.Cut(freeAddr(t), ":")
	var agentPort int
	fmt.Sscan(port, &agentPort)
	if _, err := cl.AddNode(t.Context(), api.AddNodeRequest{Name: h.Name, SSHHost: h.Addr, SSHPort: h.Port, SSHUser: h.User,
		SSHKeyPath: f.ClientKeyPath, GitRepoURL: f.Git.URL, InstallPath: h.InstallDir,
		Transport: api.TransportHTTP, AgentPort: agentPort}, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := cl.Install(t.Context(), api.InstallRequest{Nodes: []string{h.Name}, Method: "upload"}, nil)
	if err != nil || len(rep.Results) != 1 || rep.Results[0].Result != api.ResultInstalled {
		t.Fatalf("install: %+v %v", rep, err)
	}
	cfg := readAgentConfig(t, filepath.Join(h.InstallDir, "hive-agent.json"))
	if want := []string{p.queens[0].url, p.queens[1].url}; cfg.QueenURL != p.queens[0].url || !slices.Equal(cfg.QueenURLs, want) {
		t.Fatalf("agent config: queen_url %q, queen_urls %q; want %q and %q", cfg.QueenURL, cfg.QueenURLs, p.queens[0].url, want)
	}
	w, err := cl.SpawnWorker(t.Context(), api.SpawnWorkerRequest{Node: h.Name, ModelRef: "hf:test/tiny-gguf"})
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	agents := agentPIDs(f.Hosts)
	if len(agents) != 1 {
		t.Fatalf("agent pids %v, want one", agents)
	}
	next, active := p.killFirst(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = fleet.Await(ctx, "the new active queen to show the node online with its worker", func() (bool, string, error) {
		n, err := next.GetNode(ctx, h.Name)
		if err != nil {
			return false, err.Error(), nil
		}
		l, err := next.ListWorkers(ctx, api.WorkerFilter{})
		if err != nil {
			return false, err.Error(), nil
		}
		ids := make([]string, 0, len(l.Workers))
		for _, lw := range l.Workers {
			ids = append(ids, lw.ID)
		}
		return n.Status == api.StatusOnline && slices.Equal(ids, []string{w.ID}),
			fmt.Sprintf("status %s, workers %v", n.Status, ids), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node online with its worker on the new active queen %s after the takeover (heartbeat %s)",
		time.Since(active).Round(time.Millisecond), beat)
	// The worker list came from the agent (the new queen starts with
	// none); past --stale-after the node is still online: the beats keep
	// coming to the new queen.
	time.Sleep(3*time.Second + 4*beat)
	if n, err := next.GetNode(t.Context(), h.Name); err != nil || n.Status != api.StatusOnline {
		t.Errorf("node past --stale-after on the new active queen: %s %v, want online", n.Status, err)
	}
	if after := agentPIDs(f.Hosts); !slices.Equal(after, agents) {
		t.Errorf("agent pids %v before the takeover, %v after: the agent restarted", agents, after)
	}
	log, _ := os.ReadFile(filepath.Join(h.InstallDir, "logs", "hive-agent.log"))
	if want := "queen at " + p.queens[0].url + " unreachable; trying the next queen at " + p.queens[1].url; !strings.Contains(string(log), want) {
		t.Errorf("agent log lacks %q:\n%s", want, log)
	}
}

// readAgentConfig reads the agent config the queen wrote.
func readAgentConfig(t *testing.T, path string) api.AgentConfig {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg api.AgentConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return cfg
}

// TestServeRefusesBadPeerURL: a --peer-url that is no http(s) URL stops
// `queen serve` with a message naming the flag and the form it wants.
func TestServeRefusesBadPeerURL(t *testing.T) {
	for _, peer := range []string{"10.0.0.2:7833", "ftp://10.0.0.2/", "http://"} {
		t.Run(peer, func(t *testing.T) {
			out, err := exec.Command(buildQueen(t), "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
				"--peer-url", "http://10.0.0.3:7833,"+peer).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "--peer-url") || !strings.Contains(string(out), "http://10.0.0.2:7833") {
				t.Errorf("queen serve --peer-url %s: %v\n%s; want a refusal naming --peer-url and an example", peer, err, out)
			}
		})
	}
}
