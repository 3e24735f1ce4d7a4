package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

const token = "test-admin-token-0123456789abcdef"

// queen is an in-process queen on a real SQLite file, served over real HTTP.
type queen struct {
	url    string
	dbPath string
	reg    *hiveregistry.Registry
	srv    *httptest.Server
	logs   *lockedBuffer // what the queen logged, when a test asked for it
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startQueen(t testing.TB, dbPath string) *queen {
	t.Helper()
	reg, err := hiveregistry.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	srv := httptest.NewServer(server.New(server.Config{Registry: reg, Token: token, Logger: log}).Handler())
	q := &queen{url: srv.URL, dbPath: dbPath, reg: reg, srv: srv}
	t.Cleanup(q.stop)
	return q
}

func (q *queen) stop() {
	q.srv.Close()
	q.reg.Close()
}

// call sends a JSON request without streaming and decodes the answer into out.
func (q *queen) call(t testing.TB, method, path string, body, out any) int {
	t.Helper()
	resp := q.do(t, method, path, body, token, false)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// stream sends a streaming request and returns its events.
func (q *queen) stream(t testing.TB, method, path string, body any) []api.Event {
	t.Helper()
	resp := q.do(t, method, path, body, token, true)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d: %s", method, path, resp.StatusCode, data)
	}
	var events []api.Event
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev api.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("decode event %q: %v", sc.Bytes(), err)
		}
		if err := ev.Validate(); err != nil {
			t.Errorf("event %+v: %v", ev, err)
		}
		events = append(events, ev)
	}
	if len(events) == 0 || !events[len(events)-1].Done {
		t.Fatalf("stream ended without a last event: %+v", events)
	}
	return events
}

func (q *queen) do(t testing.TB, method, path string, body any, tok string, stream bool) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, q.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if stream {
		req.Header.Set("Accept", api.ContentTypeNDJSON)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (q *queen) nodes(t testing.TB) []api.Node {
	t.Helper()
	var list api.HiveList
	if st := q.call(t, "GET", "/v1/hives", nil, &list); st != http.StatusOK {
		t.Fatalf("list: status %d", st)
	}
	return list.Nodes
}

func addRequest(f *fleet.Fleet, h *fleet.Host, name string) api.AddNodeRequest {
	return api.AddNodeRequest{
		Name: name, SSHHost: h.Addr, SSHPort: h.Port, SSHUser: h.User, SSHKeyPath: f.ClientKeyPath,
		GitRepoURL: f.Git.URL, InstallPath: h.InstallDir, ConnectTimeoutMS: 5000,
	}
}

func TestAddNodeAgainstRealSSHD(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "add"})
	h := f.Hosts[0]
	q := startQueen(t, filepath.Join(t.TempDir(), "beehives.db"))

	t.Run("happy path stores every field", func(t *testing.T) {
		req := addRequest(f, h, "gpu-1")
		req.InstallPath = "~/rbee-install-" + f.ID
		events := q.stream(t, "POST", "/v1/hives", req)
		last := events[len(events)-1]
		if last.Error != nil {
			t.Fatalf("add-node failed: %+v", last.Error)
		}
		if !strings.Contains(events[0].Message, "Testing SSH connection to "+h.Addr) ||
			!strings.Contains(last.Message, "SSH connection successful! Node 'gpu-1' saved to registry") {
			t.Errorf("progress messages: first %q, last %q", events[0].Message, last.Message)
		}
		n := getNode(t, q, "gpu-1")
		want := api.Node{NodeName: "gpu-1", SSHHost: h.Addr, SSHPort: h.Port, SSHUser: h.User, SSHKeyPath: f.ClientKeyPath,
			GitRepoURL: f.Git.URL, GitBranch: "main", InstallPath: h.Home + "/rbee-install-" + f.ID, AgentPort: 7835,
			Status: api.StatusReachable, HostKey: h.HostKey}
		if n.NodeName != want.NodeName || n.SSHHost != want.SSHHost || n.SSHPort != want.SSHPort || n.SSHUser != want.SSHUser ||
			n.SSHKeyPath != want.SSHKeyPath || n.GitRepoURL != want.GitRepoURL || n.GitBranch != want.GitBranch ||
			n.InstallPath != want.InstallPath || n.AgentPort != want.AgentPort || n.Status != want.Status || n.HostKey != want.HostKey {
			t.Errorf("stored node\n got %+v\nwant %+v", n, want)
		}
		if d := time.Since(time.Unix(n.LastConnectedUnix, 0)); d < 0 || d > 5*time.Second {
			t.Errorf("last_connected_unix %d is %v from now", n.LastConnectedUnix, d)
		}
	})

	t.Run("duplicate name is 409 and leaves the row", func(t *testing.T) {
		before := getNode(t, q, "gpu-1")
		req := addRequest(f, h, "gpu-1")
		req.GitBranch = "other"
		var body api.ErrorBody
		if st := q.call(t, "POST", "/v1/hives", req, &body); st != http.StatusConflict {
			t.Fatalf("status %d, want 409: %+v", st, body)
		}
		if !strings.Contains(body.Error.Hint, "update-node") || !strings.Contains(body.Error.Hint, "remove-node") {
			t.Errorf("hint %q should name update-node and remove-node", body.Error.Hint)
		}
		if after := getNode(t, q, "gpu-1"); after != before {
			t.Errorf("row changed:\n%+v\n%+v", before, after)
		}
	})

	t.Run("invalid fields are 400 naming the field", func(t *testing.T) {
		cases := []struct {
			name  string
			edit  func(*api.AddNodeRequest)
			field string
		}{
			{"name", func(r *api.AddNodeRequest) { r.Name = "Bad_Name" }, "name"},
			{"port", func(r *api.AddNodeRequest) { r.SSHPort = 70000 }, "ssh_port"},
			{"repo", func(r *api.AddNodeRequest) { r.GitRepoURL = "ext::sh -c touch% /tmp/x" }, "git_repo_url"},
			{"branch", func(r *api.AddNodeRequest) { r.GitBranch = "a..b" }, "git_branch"},
			{"install path", func(r *api.AddNodeRequest) { r.InstallPath = "relative/$(touch x)" }, "install_path"},
		}
		for _, tc := range cases {
			req := addRequest(f, h, "bad-"+strings.ReplaceAll(tc.name, " ", "-"))
			tc.edit(&req)
			var body api.ErrorBody
			if st := q.call(t, "POST", "/v1/hives", req, &body); st != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", tc.name, st)
			}
			if body.Error.Code != api.CodeInvalidField || !strings.Contains(body.Error.Message, tc.field) {
				t.Errorf("%s: error %+v should name %s", tc.name, body.Error, tc.field)
			}
		}
		if n := len(q.nodes(t)); n != 1 {
			t.Errorf("%d nodes after invalid adds, want 1", n)
		}
	})

	t.Run("connection refused is retried 3 times", func(t *testing.T) {
		req := addRequest(f, h, "refused")
		req.SSHPort = closedPort(t)
		start := time.Now()
		events := q.stream(t, "POST", "/v1/hives", req)
		elapsed := time.Since(start)
		attempts := attemptEvents(events)
		if len(attempts) != 3 {
			t.Fatalf("got %d attempt events, want 3: %+v", len(attempts), events)
		}
		last := events[len(events)-1]
		if last.Error == nil || last.Error.Code != api.CodeSSHConnectFailed ||
			!strings.Contains(last.Error.Message, "after 3 attempts") || !strings.Contains(last.Error.Message, "refused") {
			t.Errorf("final error %+v", last.Error)
		}
		if elapsed < 450*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("took %v, want about 0.6s of backoff", elapsed)
		}
		assertAbsent(t, q, "refused")
	})

	t.Run("unauthorized key is not retried", func(t *testing.T) {
		req := addRequest(f, h, "badkey")
		req.SSHKeyPath = otherKey(t)
		events := q.stream(t, "POST", "/v1/hives", req)
		last := events[len(events)-1]
		if last.Error == nil || last.Error.Code != api.CodeSSHAuthFailed ||
			!strings.Contains(last.Error.Message, "SSH authentication failed") || !strings.Contains(last.Error.Hint, "ssh-add -l") {
			t.Errorf("final error %+v", last.Error)
		}
		if n := len(attemptEvents(events)); n != 0 {
			t.Errorf("%d retries of an auth failure, want none", n)
		}
		assertAbsent(t, q, "badkey")
	})

	t.Run("changed host key is refused until re-pinned", func(t *testing.T) {
		before := getNode(t, q, "gpu-1")
		if err := f.RotateHostKey(t.Context(), h); err != nil {
			t.Fatal(err)
		}
		events := q.stream(t, "POST", "/v1/hives/gpu-1/preflight", nil)
		last := events[len(events)-1]
		if last.Error == nil || last.Error.Code != api.CodeHostKeyMismatch {
			t.Fatalf("preflight after key change: %+v", last)
		}
		newFP := fingerprint(t, h.HostKey)
		if !strings.Contains(last.Error.Message, before.HostKeyFingerprint) || !strings.Contains(last.Error.Message, newFP) {
			t.Errorf("message %q should carry both fingerprints %s and %s", last.Error.Message, before.HostKeyFingerprint, newFP)
		}
		if !strings.Contains(last.Error.Hint, "queen setup update-node --name gpu-1 --reset-host-key") {
			t.Errorf("hint %q", last.Error.Hint)
		}
		if n := len(attemptEvents(events)); n != 0 {
			t.Errorf("%d retries of a host key mismatch, want none: %+v", n, events)
		}
		if after := getNode(t, q, "gpu-1"); after.HostKey != before.HostKey {
			t.Errorf("pinned key changed without a reset")
		}
		events = q.stream(t, "PATCH", "/v1/hives/gpu-1", api.UpdateNodeRequest{ResetHostKey: true})
		if last := events[len(events)-1]; last.Error != nil {
			t.Fatalf("reset host key: %+v", last.Error)
		}
		if after := getNode(t, q, "gpu-1"); after.HostKey != h.HostKey {
			t.Errorf("after reset the pinned key is %q, want %q", after.HostKey, h.HostKey)
		}
	})

	t.Run("preflight reports the node", func(t *testing.T) {
		events := q.stream(t, "POST", "/v1/hives/gpu-1/preflight", nil)
		var rep api.PreflightReport
		if err := json.Unmarshal(events[len(events)-1].Result, &rep); err != nil {
			t.Fatalf("preflight result: %v (%+v)", err, events[len(events)-1])
		}
		if !rep.SSHOK || !rep.CommandOK || rep.OS != "Linux" || rep.Arch == "" ||
			!strings.HasPrefix(rep.GitVersion, "git version") || !strings.HasPrefix(rep.GoVersion, "go version") || rep.DiskFreeBytes <= 0 {
			t.Errorf("report %+v", rep)
		}
	})

	t.Run("wrong or missing token is 401", func(t *testing.T) {
		for _, tok := range []string{"", "wrong"} {
			resp := q.do(t, "GET", "/v1/hives", nil, tok, false)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("token %q: status %d, want 401", tok, resp.StatusCode)
			}
		}
	})

	t.Run("rows survive a restart, remove removes", func(t *testing.T) {
		before := getNode(t, q, "gpu-1")
		q.stop()
		q2 := startQueen(t, q.dbPath)
		after := getNode(t, q2, "gpu-1")
		// The pooled connection belongs to the queen process, not the row.
		before.Connection, after.Connection = api.SSHConnection{}, api.SSHConnection{}
		if after != before {
			t.Errorf("after restart:\n%+v\nwant\n%+v", after, before)
		}
		if st := q2.call(t, "DELETE", "/v1/hives/gpu-1", nil, nil); st != http.StatusOK {
			t.Errorf("remove: status %d", st)
		}
		if st := q2.call(t, "DELETE", "/v1/hives/gpu-1", nil, nil); st != http.StatusNotFound {
			t.Errorf("second remove: status %d, want 404", st)
		}
		assertAbsent(t, q2, "gpu-1")
	})
}

func TestAddNodeConcurrency(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "conc"})
	h := f.Hosts[0]
	q := startQueen(t, filepath.Join(t.TempDir(), "beehives.db"))

	statuses := parallelAdds(t, q, 50, func(i int) api.AddNodeRequest { return addRequest(f, h, fmt.Sprintf("node-%d", i)) })
	for i, st := range statuses {
		if st != http.StatusCreated {
			t.Errorf("add node-%d: status %d, want 201", i, st)
		}
	}
	if n := len(q.nodes(t)); n != 50 {
		t.Errorf("%d nodes stored, want 50", n)
	}

	statuses = parallelAdds(t, q, 10, func(int) api.AddNodeRequest { return addRequest(f, h, "same") })
	count := map[int]int{}
	for _, st := range statuses {
		count[st]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != 9 {
		t.Errorf("10 adds of one name: statuses %v, want one 201 and nine 409", count)
	}
}

func TestAddNodeTimeoutNetns(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Netns, Hosts: 1, Prefix: "tmo"})
	h := f.Hosts[0]
	q := startQueen(t, filepath.Join(t.TempDir(), "beehives.db"))
	addr, err := f.Unreachable()
	if err != nil {
		t.Fatal(err)
	}
	req := addRequest(f, h, "blackhole")
	req.SSHHost, req.SSHPort, req.ConnectTimeoutMS = addr, 0, 1000
	start := time.Now()
	events := q.stream(t, "POST", "/v1/hives", req)
	elapsed := time.Since(start)
	if n := len(attemptEvents(events)); n != 3 {
		t.Errorf("%d attempts, want 3: %+v", n, events)
	}
	last := events[len(events)-1]
	if last.Error == nil || !strings.Contains(last.Error.Message, "after 3 attempts") || !strings.Contains(last.Error.Message, "timed out") {
		t.Errorf("final error %+v", last.Error)
	}
	// 3 attempts of 1s plus about 200ms and 400ms of backoff.
	if elapsed < 3400*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("took %v, want about 3.6s", elapsed)
	}
	assertAbsent(t, q, "blackhole")

	// The default port is 22 and "~" resolves to the host user's home.
	req = addRequest(f, h, "netns-1")
	req.SSHPort, req.InstallPath = 0, "~/rbee"
	events = q.stream(t, "POST", "/v1/hives", req)
	if last := events[len(events)-1]; last.Error != nil {
		t.Fatalf("add netns host: %+v", last.Error)
	}
	n := getNode(t, q, "netns-1")
	if n.SSHPort != 22 || n.InstallPath != h.Home+"/rbee" || n.SSHUser != h.User {
		t.Errorf("stored %+v, want port 22, install path %s/rbee, user %s", n, h.Home, h.User)
	}
}

func parallelAdds(t testing.TB, q *queen, n int, req func(int) api.AddNodeRequest) []int {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = q.call(t, "POST", "/v1/hives", req(i), nil) })
	}
	wg.Wait()
	return statuses
}

func getNode(t testing.TB, q *queen, name string) api.Node {
	t.Helper()
	var n api.Node
	if st := q.call(t, "GET", "/v1/hives/"+name, nil, &n); st != http.StatusOK {
		t.Fatalf("get %s: status %d", name, st)
	}
	return n
}

func assertAbsent(t testing.TB, q *queen, name string) {
	t.Helper()
	if st := q.call(t, "GET", "/v1/hives/"+name, nil, nil); st != http.StatusNotFound {
		t.Errorf("node %s: status %d, want 404 (nothing saved)", name, st)
	}
}

func attemptEvents(events []api.Event) []api.Event {
	var out []api.Event
	for _, ev := range events {
		if ev.Attempt > 0 {
			out = append(out, ev)
		}
	}
	return out
}

func closedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// otherKey writes a key no host authorizes.
func otherKey(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stranger_ed25519")
	if err := fleet.WriteClientKey(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func fingerprint(t testing.TB, authorizedKey string) string {
	t.Helper()
	fp, err := api.HostKeyFingerprint(authorizedKey)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}
