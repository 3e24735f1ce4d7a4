package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// unblockedBound is the most an operation on a healthy node may take while
// another node is cut off; a queen that waited on the cut node would take
// at least its connect timeout (5 s) or keepalive timeout (15 s).
const unblockedBound = 2 * time.Second

// testCut spawns a worker on victim, cuts victim off for partitionCut
// while another client keeps asking for it, and checks that: victim goes
// offline and its worker leaves the list; operations on other (hive
// status, a call to its agent over SSH) keep their latency; after Heal
// the pool reconnects by itself and the worker is listed again within one
// heartbeat of the reconnect, once, next to other's worker. It returns
// victim's worker.
func testCut(t *testing.T, f *fleet.Fleet, q *restartableQueen, victim, other *fleet.Host, otherWorker api.Worker) api.Worker {
	w := q.mustSpawn(t, api.SpawnWorkerRequest{Node: victim.Name, ModelRef: "hf:test/victim"})
	q.awaitWorkers(t, "", 5*time.Second, w.ID, otherWorker.ID)
	baseline := timeOps(t, q, other.Name, 10, 0)

	ctx, stopHammer := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { hammer(ctx, q.url, victim.Name) }) // operations on the cut node, meanwhile
	if err := f.Cut(victim); err != nil {
		t.Fatal(err)
	}
	cutAt := time.Now()
	during := timeOps(t, q, other.Name, int(partitionCut/time.Second)-2, time.Second)
	awaitStatus(t, q.queen, victim.Name, api.StatusOffline)
	if got := ids(q.workers(t, "")); !slices.Equal(got, sortedIDs(otherWorker)) {
		t.Errorf("during the cut the queen lists %v, want only %s's worker %s", got, other.Name, otherWorker.ID)
	}
	time.Sleep(time.Until(cutAt.Add(partitionCut)))
	stopHammer() // from here only the pool's own redials may bring the connection back
	wg.Wait()
	if err := f.Heal(victim); err != nil {
		t.Fatal(err)
	}
	checkUnblocked(t, baseline, during)

	reconnected := awaitConnected(t, q.queen, victim.Name, 45*time.Second)
	listed := q.awaitWorkers(t, "", 10*time.Second, w.ID, otherWorker.ID)
	t.Logf("healed: pool reconnected %v after the heal; worker listed %v after the reconnect (heartbeat %v)",
		reconnected, listed, workerBeat)
	if listed > workerBeat+time.Second {
		t.Errorf("worker listed %v after the reconnect, want within one heartbeat (%v, +1 s for the forward and polling)", listed, workerBeat)
	}
	awaitStatus(t, q.queen, victim.Name, api.StatusOnline)
	for range 3 { // a few more beats: no duplicate, no ghost
		time.Sleep(workerBeat)
		if got := ids(q.workers(t, "")); !slices.Equal(got, sortedIDs(w, otherWorker)) {
			t.Fatalf("after the heal the queen lists %v, want %v", got, sortedIDs(w, otherWorker))
		}
	}
	return w
}

// timeOps times n rounds of operations on node (its hive status, which
// asks its agent over SSH, and its node record), every pause.
func timeOps(t *testing.T, q *restartableQueen, node string, n int, pause time.Duration) []time.Duration {
	t.Helper()
	var out []time.Duration
	for range n {
		start := time.Now()
		st := hiveStatus(t, q.queen, node)
		getNode(t, q.queen, node)
		out = append(out, time.Since(start))
		if !st.Healthy {
			t.Errorf("%s while another node is cut: %+v", node, st)
		}
		time.Sleep(pause)
	}
	return out
}

// hammer asks for node's hive status and preflight until ctx ends, each
// with a short timeout: queen operations stuck on a cut node.
func hammer(ctx context.Context, url, node string) {
	c := http.Client{Timeout: 3 * time.Second}
	for ctx.Err() == nil {
		for _, r := range []struct{ method, path string }{{"GET", "/status"}, {"POST", "/preflight"}} {
			req, _ := http.NewRequestWithContext(ctx, r.method, url+"/v1/hives/"+node+r.path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}
}

// checkUnblocked fails when an operation during the cut took longer than
// unblockedBound, and logs both series.
func checkUnblocked(t *testing.T, baseline, during []time.Duration) {
	t.Helper()
	t.Logf("operations on the healthy node: before the cut %s; during it %s", fmtDurations(baseline), fmtDurations(during))
	if len(during) == 0 {
		t.Fatal("no operation timed during the cut")
	}
	if worst := slices.Max(during); worst > unblockedBound {
		t.Errorf("an operation on a healthy node took %v during another node's cut (before: worst %v), want under %v",
			worst, slices.Max(baseline), unblockedBound)
	}
}

// awaitConnected waits until the queen's pooled connection to name is up
// and returns how long it took.
func awaitConnected(t *testing.T, q *queen, name string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !connected(t, q, name) {
		if time.Since(start) > within {
			t.Fatalf("pool did not reconnect %s within %v: %+v", name, within, getNode(t, q, name).Connection)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// testQueenRestart restarts the queen and checks that every node's
// connection comes back, every node is online and the registry lists
// exactly the workers that run.
func testQueenRestart(t *testing.T, q *restartableQueen, hosts []*fleet.Host, workers ...api.Worker) {
	start := time.Now()
	q.restart(t)
	for _, h := range hosts {
		awaitConnected(t, q.queen, h.Name, 20*time.Second)
		awaitStatus(t, q.queen, h.Name, api.StatusOnline)
	}
	var want []string
	for _, w := range workers {
		want = append(want, w.ID)
	}
	q.awaitWorkers(t, "", 10*time.Second, want...)
	t.Logf("after the restart every connection was up and the registry whole in %v", time.Since(start))
}

// testForwardingRefused adds strict under each sshd setting that refuses
// the ssh transport's forwarding and checks that preflight names what is
// refused with the sshd_config hint; an install under DisableForwarding
// fails in its probe with the hint.
func testForwardingRefused(t *testing.T, f *fleet.Fleet, q *restartableQueen, strict *fleet.Host) {
	dropNode(t, q.queen, strict.Name) // added with the others; re-added per setting
	cases := []struct {
		option       string
		want, refuse []string
	}{
		// OpenSSH's AllowTcpForwarding no refuses Unix socket forwards too.
		{"AllowTcpForwarding no", []string{"direct-tcpip", "streamlocal-forward"}, nil},
		{"AllowStreamLocalForwarding no", []string{"streamlocal-forward"}, []string{"direct-tcpip"}},
		{"AllowStreamLocalForwarding remote", []string{"direct-streamlocal"}, []string{"direct-tcpip", "streamlocal-forward"}},
		{"DisableForwarding yes", []string{"direct-tcpip", "streamlocal-forward"}, nil},
	}
	for _, c := range cases {
		t.Run(c.option, func(t *testing.T) {
			if err := f.SetSSHDOptions(t.Context(), strict, c.option); err != nil {
				t.Fatal(err)
			}
			addOne(t, q.queen, f, strict)
			problems := strings.Join(preflightProblems(t, q.queen, strict.Name), "\n")
			for _, w := range append(c.want, "sshd_config", strings.Fields(c.option)[0]) {
				if !strings.Contains(problems, w) {
					t.Errorf("preflight problems lack %q:\n%s", w, problems)
				}
			}
			for _, w := range c.refuse {
				if strings.Contains(problems, "("+w+")") {
					t.Errorf("preflight names %s as refused under %q:\n%s", w, c.option, problems)
				}
			}
			if c.option == "DisableForwarding yes" {
				checkInstallRefused(t, q.queen, strict.Name)
			}
			dropNode(t, q.queen, strict.Name)
		})
	}
}

// addOne registers h.
func addOne(t *testing.T, q *queen, f *fleet.Fleet, h *fleet.Host) {
	t.Helper()
	req := addRequest(f, h, h.Name)
	req.AgentPort = h.AgentPort
	if st := q.call(t, "POST", "/v1/hives", req, nil); st != http.StatusCreated {
		t.Fatalf("add %s: status %d", h.Name, st)
	}
}

// preflightProblems runs preflight on name and returns its problems.
func preflightProblems(t *testing.T, q *queen, name string) []string {
	t.Helper()
	events := q.stream(t, "POST", "/v1/hives/"+name+"/preflight", nil)
	last := events[len(events)-1]
	var rep api.PreflightReport
	if err := json.Unmarshal(last.Result, &rep); err != nil {
		t.Fatalf("preflight of %s: %v (%+v)", name, err, last)
	}
	return rep.Problems
}

// checkInstallRefused installs name and expects a failure in the probe
// whose hint names sshd_config.
func checkInstallRefused(t *testing.T, q *queen, name string) {
	t.Helper()
	rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{name}, Method: "upload"})
	r := rep.Results[0]
	if r.Result != api.ResultFailed || r.Phase != "probe" || r.Error == nil ||
		!strings.Contains(r.Error.Hint, "sshd_config") || !strings.Contains(r.Error.Message, "forwarding") {
		t.Errorf("install under DisableForwarding: %+v (error %+v), want failed in probe with the sshd_config hint", r, r.Error)
	}
}

// testHTTPTransportFirewalled switches fw to the http transport and checks
// that install fails at once, naming the agent port the firewall closes;
// preflight says the same.
func testHTTPTransportFirewalled(t *testing.T, q *restartableQueen, fw *fleet.Host) {
	direct := api.TransportHTTP
	q.stream(t, "PATCH", "/v1/hives/"+fw.Name, api.UpdateNodeRequest{Transport: &direct})
	port := "port 7835"
	if problems := strings.Join(preflightProblems(t, q.queen, fw.Name), "\n"); !strings.Contains(problems, port) {
		t.Errorf("preflight under http on a firewalled node: problems %q, want them to name %s", problems, port)
	}
	start := time.Now()
	rep, _ := installNodes(t, q.queen, api.InstallRequest{Nodes: []string{fw.Name}, Method: "upload"})
	r := rep.Results[0]
	if r.Result != api.ResultFailed || r.Error == nil || !strings.Contains(r.Error.Message, port) ||
		!strings.Contains(r.Error.Hint, "--transport ssh") {
		t.Errorf("install under http on a firewalled node: %+v (error %+v), want failed naming %s", r, r.Error, port)
	}
	t.Logf("install under http failed after %v: %v", time.Since(start), r.Error)
}

// dropNode removes name from the queen (force: it may be installed).
func dropNode(t *testing.T, q *queen, name string) {
	t.Helper()
	if st := q.call(t, "DELETE", "/v1/hives/"+name+"?force=true", nil, nil); st != http.StatusOK {
		t.Fatalf("remove %s: status %d", name, st)
	}
}
