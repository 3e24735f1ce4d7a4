package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
	"github.com/rbee-fleet/rbee/testenv/require"
)

// partitionCut is how long TestSSHTransportNetns cuts a node off. It is
// longer than the test queen's --stale-after (workerStale, 2 s) and the
// pool's longest backoff (sshpool.DefaultMaxBackoff, 30 s), so the node
// goes offline and the pool redials at its slowest: the 60 s of issue 11.
const partitionCut = 60 * time.Second

// TestSSHTransportNetns proves the ssh transport on one netns fleet of
// three hosts: "fw" drops every inbound port but 22 and has no route to
// the queen's address, "peer" is a plain host, "strict" gets sshd
// settings that forbid forwarding. The subtests run in order and share
// the queen and the fleet.
func TestSSHTransportNetns(t *testing.T) {
	require.Binary(t, fleet.Nft, "install it with: apt-get install nftables (scripts/install-deps.sh)")
	f := fleet.New(t, fleet.Options{Mode: fleet.Netns, Hosts: 3, Prefix: "tssh"})
	fw, peer, strict := f.Hosts[0], f.Hosts[1], f.Hosts[2]
	if err := f.Firewall(fw, 22); err != nil {
		t.Fatal(err)
	}
	if err := f.Unroute(fw, f.Net.QueenIP); err != nil {
		t.Fatal(err)
	}
	q := startWorkerQueen(t, f.Net.QueenIP)
	addNodes(t, q.queen, f)
	dumpNetnsAgentLogs(t, f)
	var fwWorker, peerWorker api.Worker
	t.Run("firewalled node works over SSH only", func(t *testing.T) {
		fwWorker = testFirewalledNode(t, q, fw, peer)
	})
	t.Run("another user cannot reach the agent socket", func(t *testing.T) {
		testSocketPermission(t, fw, peer)
	})
	t.Run("a 60 s cut: offline, back once, others unblocked", func(t *testing.T) {
		peerWorker = testCut(t, f, q, peer, fw, fwWorker)
	})
	t.Run("queen restart reconnects every node", func(t *testing.T) {
		testQueenRestart(t, q, []*fleet.Host{fw, peer}, fwWorker, peerWorker)
	})
	t.Run("sshd forbidding forwarding fails preflight and install", func(t *testing.T) {
		testForwardingRefused(t, f, q, strict)
	})
	t.Run("http transport names the closed port", func(t *testing.T) {
		testHTTPTransportFirewalled(t, q, fw)
	})
}

// testFirewalledNode installs fw (and peer) over the ssh transport, spawns
// a worker on fw, lists it, sends a completion through `queen workers
// forward` and stops it; it returns a second worker left running on fw.
func testFirewalledNode(t *testing.T, q *restartableQueen, fw, peer *fleet.Host) api.Worker {
	rep, _ := installNodes(t, q.queen, api.InstallRequest{Nodes: []string{fw.Name, peer.Name}, Method: "upload"})
	requireResults(t, rep, api.ResultInstalled)
	n := getNode(t, q.queen, fw.Name)
	wantURL := "unix://" + filepath.Join(fw.InstallDir, "run", install.AgentSocket)
	if n.Transport != api.TransportSSH || n.AgentURL != wantURL || !n.Connection.Connected {
		t.Fatalf("fw: transport %q agent %q connection %+v; want ssh, %s, connected", n.Transport, n.AgentURL, n.Connection, wantURL)
	}
	w := q.mustSpawn(t, api.SpawnWorkerRequest{Node: fw.Name, ModelRef: "hf:test/fw"})
	if !strings.HasPrefix(w.URL, "http://127.0.0.1:") {
		t.Errorf("worker URL %q, want loopback on the node (workers bind 127.0.0.1 under ssh)", w.URL)
	}
	q.awaitWorkers(t, "?node="+fw.Name, 5*time.Second, w.ID)
	port := startForward(t, q, w.ID)
	if text := completion(t, port); text == "" {
		t.Error("empty completion through `queen workers forward`")
	}
	if code := q.call(t, "POST", "/v1/workers/"+w.ID+"/stop", nil, nil); code != http.StatusOK {
		t.Fatalf("stop %s: %d", w.ID, code)
	}
	q.awaitWorkers(t, "?node="+fw.Name, 5*time.Second)
	return q.mustSpawn(t, api.SpawnWorkerRequest{Node: fw.Name, ModelRef: "hf:test/fw2"})
}

// startForward runs `queen workers forward --id id` (the real CLI) and
// returns the local port it serves.
func startForward(t *testing.T, q *restartableQueen, id string) string {
	t.Helper()
	bin := filepath.Join(gobuild.Binaries(t, "", "../../queen"), "queen")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "workers", "forward", "--id", id, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "RBEE_QUEEN_URL="+q.url, "RBEE_TOKEN="+token, "RBEE_HOME="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "http://127.0.0.1:"); ok {
			port, _, _ := strings.Cut(rest, " ")
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return port
		}
	}
	t.Fatalf("`queen workers forward` printed no local address (%v)", sc.Err())
	return ""
}

// completion posts a prompt to the local port and returns the text.
func completion(t *testing.T, port string) string {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post("http://127.0.0.1:"+port+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"hi","max_tokens":4}`))
	if err != nil {
		t.Fatalf("completion through the forward: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || len(body.Choices) == 0 {
		t.Fatalf("completion: %s, %+v, %v", resp.Status, body, err)
	}
	return body.Choices[0].Text
}

// testSocketPermission checks that fw's agent socket is 0600 and that
// peer's unix user is refused by the kernel, while fw's own user gets an
// answer from it.
func testSocketPermission(t *testing.T, fw, peer *fleet.Host) {
	sock := filepath.Join(fw.InstallDir, "run", install.AgentSocket)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want a socket of mode 0600", sock, fi.Mode())
	}
	curl := func(user string) (string, error) {
		out, err := exec.Command("runuser", "-u", user, "--", "curl", "-sv", "--max-time", "5",
			"--unix-socket", sock, "http://hive-agent/v1/health").CombinedOutput()
		return string(out), err // -v: curl names the errno of a failed connect
	}
	if out, err := curl(fw.User); err != nil || !strings.Contains(out, "version") {
		t.Fatalf("the agent's own user: %v: %s (want its health answer)", err, out)
	}
	out, err := curl(peer.User)
	if err == nil || !strings.Contains(strings.ToLower(out), "permission denied") {
		t.Errorf("another local user (%s): %v: %s; want permission denied", peer.User, err, out)
	}
}

// dumpNetnsAgentLogs prints the agents' logs of a netns fleet when the
// test failed.
func dumpNetnsAgentLogs(t *testing.T, f *fleet.Fleet) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, h := range f.Hosts {
			data, _ := os.ReadFile(filepath.Join(h.InstallDir, "logs", "hive-agent.log"))
			t.Logf("--- agent log of %s ---\n%s", h.Name, lastLines(string(data), 60))
		}
	})
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// connected reports whether the queen's pooled connection to name is up.
func connected(t *testing.T, q *queen, name string) bool {
	return getNode(t, q, name).Connection.Connected
}

// sortedIDs are the ids of ws, sorted.
func sortedIDs(ws ...api.Worker) []string {
	out := ids(ws)
	slices.Sort(out)
	return out
}

// fmtDurations formats ds in milliseconds.
func fmtDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprint(d.Round(time.Millisecond))
	}
	return strings.Join(parts, " ")
}
