package main

// HA end-to-end tests: two `queen serve` processes on one real PostgreSQL
// cluster (testenv/pgtest), the lease deciding which one is active.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
	"github.com/rbee-fleet/rbee/testenv/pgtest"
)

// haPair is two queens on one PostgreSQL database with one admin token.
type haPair struct {
	dsn, token string
	leaseArgs  []string
	queens     [2]*daemon
	dirs       [2]string
}

// startHAPair starts queen 0, waits until it is active, then queen 1 as
// its standby, both with leaseArgs (e.g. --lease-poll).
func startHAPair(t testing.TB, dsn string, leaseArgs ...string) *haPair {
	t.Helper()
	p := &haPair{dsn: dsn, leaseArgs: leaseArgs}
	for i := range p.dirs {
		p.dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("queen-%d", i))
	}
	p.restart(t, 0)
	p.token = readToken(t, p.dirs[0])
	waitRole(t, p.queens[0], api.RoleActive, 10*time.Second)
	if err := os.MkdirAll(p.dirs[1], 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dirs[1], tokenFile), []byte(p.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.restart(t, 1)
	waitRole(t, p.queens[1], api.RoleStandby, 10*time.Second)
	return p
}

// restart starts queen i (again) on the pair's database.
func (p *haPair) restart(t testing.TB, i int) {
	t.Helper()
	p.queens[i] = startDaemon(t, p.dirs[i], append([]string{"--store", p.dsn}, p.leaseArgs...)...)
}

// client returns a CLI client listing both queens.
func (p *haPair) client() *client.Client {
	return client.New(p.queens[0].url+","+p.queens[1].url, p.token)
}

// health reads d's /v1/health.
func health(ctx context.Context, d *daemon) (api.Health, error) {
	return client.New(d.url, "").Health(ctx)
}

// killFirst kills -9 the first queen, the active one, waits until the
// other is active (within 5 s) and returns a client of it and when it
// became active.
func (p *haPair) killFirst(t testing.TB) (*client.Client, time.Time) {
	t.Helper()
	p.queens[0].kill()
	waitRole(t, p.queens[1], api.RoleActive, 5*time.Second)
	return client.New(p.queens[1].url, p.token), time.Now()
}

// waitRole waits until d's health shows role.
func waitRole(t testing.TB, d *daemon, role string, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	err := fleet.Await(ctx, d.url+" to be "+role, func() (bool, string, error) {
		h, err := health(ctx, d)
		if err != nil {
			return false, err.Error(), nil
		}
		return h.Role == role, fmt.Sprintf("%+v", h), nil
	})
	if err != nil {
		log, _ := os.ReadFile(d.logPath)
		t.Fatalf("%v\nqueen log:\n%s", err, log)
	}
}

// createKey writes one client key through c, the HA pair's cheapest write.
func createKey(ctx context.Context, c *client.Client, name string) error {
	return c.Do(ctx, http.MethodPost, "/v1/keys", api.CreateKeyRequest{Name: name}, nil)
}

// postKey creates a client key at url without following a standby, and
// returns the answer's error code, or ACCEPTED.
func postKey(t testing.TB, url, token, name string) string {
	body, _ := json.Marshal(api.CreateKeyRequest{Name: name})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/keys", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 {
		return "ACCEPTED"
	}
	var e api.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if e.Error.Code == api.CodeStandby && resp.Header.Get(api.HeaderActiveQueen) == "" {
		return "STANDBY without " + api.HeaderActiveQueen
	}
	return e.Error.Code
}

// keyNames lists the client keys through c.
func keyNames(t testing.TB, c *client.Client) map[string]bool {
	t.Helper()
	var l api.KeyList
	if err := c.Do(t.Context(), http.MethodGet, "/v1/keys", nil, &l); err != nil {
		t.Fatalf("list keys: %v", err)
	}
	names := map[string]bool{}
	for _, k := range l.Keys {
		names[k.Name] = true
	}
	return names
}

// acked collects the names whose write was acknowledged.
type acked struct {
	mu    sync.Mutex
	names map[string]bool
}

func (a *acked) add(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.names == nil {
		a.names = map[string]bool{}
	}
	a.names[name] = true
}

func (a *acked) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.names)
}

// missing returns the acknowledged names not in stored.
func (a *acked) missing(stored map[string]bool) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for n := range a.names {
		if !stored[n] {
			out = append(out, n)
		}
	}
	return out
}

// TestHAKillActiveDuringAdds: kill -9 of the active queen during 50
// concurrent add-node calls through the CLI's client (both URLs listed):
// the standby is active within 5 s, and every acknowledged add is in the
// registry afterwards.
func TestHAKillActiveDuringAdds(t *testing.T) {
	c := pgtest.Start(t)
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "ha"})
	h := f.Hosts[0]
	p := startHAPair(t, c.NewDatabase(t), "--lease-poll", "250ms", "--lease-ttl", "2s")
	cl := p.client()
	var ok acked
	var afterKill, present atomic.Int32 // acknowledged by the new queen; found landed (answer lost)
	var killedFlag atomic.Bool
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			req := api.AddNodeRequest{Name: fmt.Sprintf("ha-%d", i), SSHHost: h.Addr, SSHPort: h.Port, SSHUser: h.User,
				SSHKeyPath: f.ClientKeyPath, GitRepoURL: f.Git.URL, InstallPath: h.InstallDir}
			for ctx.Err() == nil {
				_, err := cl.AddNode(ctx, req, nil)
				if err == nil {
					ok.add(req.Name)
					if killedFlag.Load() {
						afterKill.Add(1)
					}
					return
				}
				if ae, isAPI := errors.AsType[*client.APIError](err); isAPI && ae.Detail.Code == api.CodeAlreadyExists {
					present.Add(1)
					return // landed, but its answer was lost with the queen: not acknowledged
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	err := fleet.Await(ctx, "some adds to land", func() (bool, string, error) {
		return ok.count() >= 5, fmt.Sprintf("%d acknowledged", ok.count()), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	killedFlag.Store(true)
	p.queens[0].kill()
	killed := time.Now()
	waitRole(t, p.queens[1], api.RoleActive, 5*time.Second)
	t.Logf("standby active %s after kill -9", time.Since(killed).Round(time.Millisecond))
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the adds did not all end within 2 minutes")
	}
	l, err := cl.ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, n := range l.Nodes {
		stored[n.NodeName] = true
	}
	t.Logf("%d of 50 adds acknowledged, %d rows", ok.count(), len(stored))
	if lost := ok.missing(stored); len(lost) > 0 {
		t.Fatalf("acknowledged but not in the registry after the takeover: %v", lost)
	}
	// Adds in flight at the kill may have landed with their answer lost
	// (the retry finds them present); every other add must end
	// acknowledged, by the new queen if not by the old one (the adds
	// ending within the deadline above is the client moving over).
	if got := ok.count() + int(present.Load()); got != 50 {
		t.Fatalf("%d adds acknowledged and %d found present: %d of 50 ended", ok.count(), present.Load(), got)
	}
	t.Logf("%d acknowledged by the new queen, %d landed with their answer lost", afterKill.Load(), present.Load())
}

// TestHAPausedActiveIsFenced: SIGSTOP the active queen past the lease time,
// let the standby take over, SIGCONT: the writes that waited for the old
// queen are refused (503 STANDBY), none of them lands, and the old queen
// is standby and says so in its log.
func TestHAPausedActiveIsFenced(t *testing.T) {
	c := pgtest.Start(t)
	p := startHAPair(t, c.NewDatabase(t), "--lease-poll", "200ms", "--lease-ttl", "1s")
	old, next := p.queens[0], p.queens[1]
	if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitRole(t, next, api.RoleActive, 10*time.Second)
	// Writes sent to the paused queen wait in its listen queue; plain
	// HTTP, as the CLI's client would follow the standby's answer.
	codes := make(chan string, 10)
	for i := range 10 {
		go func() { codes <- postKey(t, old.url, p.token, fmt.Sprintf("paused-%d", i)) }()
	}
	time.Sleep(300 * time.Millisecond)
	if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if code := <-codes; code != api.CodeStandby {
			t.Errorf("a write to the paused queen after the takeover: %s; want %s", code, api.CodeStandby)
		}
	}
	waitRole(t, old, api.RoleStandby, 5*time.Second)
	if keys := keyNames(t, client.New(next.url, p.token)); len(keys) != 0 {
		t.Errorf("writes of the fenced queen landed: %v", keys)
	}
	log, _ := os.ReadFile(old.logPath)
	if !strings.Contains(string(log), "stepped down") {
		t.Errorf("the old queen's log does not say it stepped down:\n%s", log)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := fleet.Await(ctx, "the old queen to name the new one", func() (bool, string, error) {
		hOld, _ := health(ctx, old)
		hNext, _ := health(ctx, next)
		return hOld.Role == api.RoleStandby && hNext.Epoch == hOld.Epoch && hNext.Epoch >= 2 && hOld.ActiveURL == next.url,
			fmt.Sprintf("old %+v, next %+v", hOld, hNext), nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestHAPostgresRestartUnderLoad: restart PostgreSQL while writes flow
// through the CLI's client: both queens survive, one is active afterwards,
// and every acknowledged write is there.
func TestHAPostgresRestartUnderLoad(t *testing.T) {
	c := pgtest.Start(t)
	p := startHAPair(t, c.NewDatabase(t), "--lease-poll", "200ms", "--lease-ttl", "2s")
	cl := p.client()
	var ok acked
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("load-%d-%d", w, i)
				if createKey(ctx, cl, name) == nil {
					ok.add(name)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	time.Sleep(time.Second)
	before := ok.count()
	if err := c.Restart(); err != nil {
		cancel()
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for ok.count() < before+20 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("%d writes acknowledged, %d before the restart", ok.count(), before)
	if ok.count() < before+20 {
		t.Fatalf("writes did not resume within 15 s of the restart (%d acknowledged, %d before)", ok.count(), before)
	}
	for _, q := range p.queens {
		select {
		case <-q.exited:
			t.Fatalf("queen %s exited when PostgreSQL restarted", q.url)
		default:
		}
	}
	actives := 0
	for _, q := range p.queens {
		h, err := health(t.Context(), q)
		if err != nil {
			t.Fatalf("health of %s: %v", q.url, err)
		}
		if h.Role == api.RoleActive {
			actives++
		}
	}
	if actives != 1 {
		t.Fatalf("%d active queens after the restart, want 1", actives)
	}
	if lost := ok.missing(keyNames(t, cl)); len(lost) > 0 {
		t.Fatalf("acknowledged but missing after the restart: %v", lost)
	}
}

// TestHAStandbyAnswers: a standby answers health (200, with its role),
// refuses the API and agent heartbeats with 503 STANDBY naming the active
// queen, and `queen status` and /metrics show both roles.
func TestHAStandbyAnswers(t *testing.T) {
	c := pgtest.Start(t)
	p := startHAPair(t, c.NewDatabase(t), "--lease-poll", "200ms", "--lease-ttl", "2s")
	active, standby := p.queens[0], p.queens[1]
	waitRole(t, standby, api.RoleStandby, 5*time.Second)
	for _, route := range []string{"GET /v1/hives", "POST /v1/hives/n1/heartbeat", "GET /v1/workers/list", "GET /"} {
		method, path, _ := strings.Cut(route, " ")
		req, _ := http.NewRequest(method, standby.url+path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+p.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || e.Error.Code != api.CodeStandby ||
			resp.Header.Get(api.HeaderActiveQueen) != active.url || !strings.Contains(e.Error.Message, active.url) {
			t.Errorf("%s on the standby: %d %+v, header %q; want 503 STANDBY naming %s",
				route, resp.StatusCode, e.Error, resp.Header.Get(api.HeaderActiveQueen), active.url)
		}
	}
	r := runCLI(t, standby, nil, "--queen-url", standby.url+","+active.url, "--json", "status")
	var list []queenStatus
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 2 {
		t.Fatalf("queen status: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	if list[0].Role != api.RoleStandby || list[1].Role != api.RoleActive || list[0].Epoch != list[1].Epoch || list[1].Epoch == 0 {
		t.Errorf("queen status: %+v; want the standby then the active, on one epoch", list)
	}
	r = runCLI(t, standby, nil, "--queen-url", standby.url, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "standby") || !strings.Contains(r.stdout, active.url) {
		t.Errorf("queen status from the standby alone: exit %d\n%s%s; want both queens, found through the standby", r.code, r.stdout, r.stderr)
	}
	for q, want := range map[*daemon]string{active: `rbee_queen_role{role="active"} 1`, standby: `rbee_queen_role{role="standby"} 1`} {
		req, _ := http.NewRequest(http.MethodGet, q.url+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+p.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) || !strings.Contains(string(body), "rbee_queen_lease_epoch 1") {
			t.Errorf("/metrics of %s lacks %s and the epoch", q.url, want)
		}
	}
}

// TestHAInstallInterruptedByTakeover: the active queen is killed while it
// installs a node; after the takeover the node's last install says the
// install was interrupted, not what it was before.
func TestHAInstallInterruptedByTakeover(t *testing.T) {
	c := pgtest.Start(t)
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "hai"})
	h := f.Hosts[0]
	p := startHAPair(t, c.NewDatabase(t), "--lease-poll", "200ms", "--lease-ttl", "2s")
	cl := p.client()
	if _, err := cl.AddNode(t.Context(), api.AddNodeRequest{Name: h.Name, SSHHost: h.Addr, SSHPort: h.Port, SSHUser: h.User,
		SSHKeyPath: f.ClientKeyPath, GitRepoURL: f.Git.URL, InstallPath: h.InstallDir}, nil); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	_, err := cl.Install(t.Context(), api.InstallRequest{Nodes: []string{h.Name}, Method: "upload"}, func(e api.Event) {
		if e.Node == h.Name {
			once.Do(p.queens[0].kill)
		}
	})
	if err == nil {
		t.Fatal("the install finished although its queen was killed during it")
	}
	waitRole(t, p.queens[1], api.RoleActive, 5*time.Second)
	n, err := cl.GetNode(t.Context(), h.Name)
	if err != nil {
		t.Fatal(err)
	}
	if n.LastInstall.Result != api.ResultFailed || !strings.Contains(n.LastInstall.Error, "interrupted") {
		t.Fatalf("last install after the takeover: %+v; want failed, interrupted", n.LastInstall)
	}
}

// TestHATakeoverRebuildsWorkers: two queens, 4 hosts with agents (ssh
// transport) and a worker each; kill -9 of the active queen: the new one
// opens the SSH pool to every installed node, and its worker registry
// equals the workers the agents run, none duplicated or lost, no agent
// restarted.
func TestHATakeoverRebuildsWorkers(t *testing.T) {
	c := pgtest.Start(t)
	f := fleet.New(t, fleet.Options{Hosts: 4, Prefix: "haw"})
	const beat = 300 * time.Millisecond
	p := startHAPair(t, c.NewDatabase(t), "--lease-poll", "250ms", "--lease-ttl", "2s",
		"--heartbeat-interval", beat.String(), "--stale-after", "3s")
	cl := p.client()
	for _, h := range f.Hosts {
		if _, err := cl.AddNode(t.Context(), api.AddNodeRequest{Name: h.Name, SSHHost: h.Addr, SSHPort: h.Port, SSHUser: h.User,
			SSHKeyPath: f.ClientKeyPath, GitRepoURL: f.Git.URL, InstallPath: h.InstallDir}, nil); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := cl.Install(t.Context(), api.InstallRequest{All: true, Method: "upload"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Result != api.ResultInstalled {
			t.Fatalf("install of %s: %+v", r.Node, r)
		}
	}
	var want []string
	for _, h := range f.Hosts {
		w, err := cl.SpawnWorker(t.Context(), api.SpawnWorkerRequest{Node: h.Name, ModelRef: "hf:test/tiny-gguf"})
		if err != nil {
			t.Fatalf("spawn on %s: %v", h.Name, err)
		}
		want = append(want, w.ID)
	}
	slices.Sort(want)
	agents := agentPIDs(f.Hosts)
	if len(agents) != len(f.Hosts) {
		t.Fatalf("agent pids %v, want one per host", agents)
	}
	next, active := p.killFirst(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = fleet.Await(ctx, "the new active queen to list the agents' workers", func() (bool, string, error) {
		l, err := next.ListWorkers(ctx, api.WorkerFilter{})
		if err != nil {
			return false, err.Error(), nil
		}
		var got []string
		for _, w := range l.Workers {
			got = append(got, w.ID)
		}
		slices.Sort(got)
		return slices.Equal(got, want), strings.Join(got, ","), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("worker registry complete %s after the takeover (heartbeat %s)", time.Since(active).Round(time.Millisecond), beat)
	if after := agentPIDs(f.Hosts); !slices.Equal(after, agents) {
		t.Errorf("agent pids %v before the takeover, %v after: an agent restarted", agents, after)
	}
	l, err := next.ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if n.Status != api.StatusOnline {
			t.Errorf("node %s is %s after the takeover, want online", n.NodeName, n.Status)
		}
	}
}

// agentPIDs returns the pids of the hive agents running from the hosts'
// install dirs, sorted.
func agentPIDs(hosts []*fleet.Host) []int {
	var pids []int
	for _, h := range hosts {
		workers := fleet.PIDsWith("rbee-worker", h.InstallDir)
		for _, pid := range fleet.PIDsWith("hive-agent", h.InstallDir) {
			if !slices.Contains(workers, pid) {
				pids = append(pids, pid)
			}
		}
	}
	slices.Sort(pids)
	return pids
}
