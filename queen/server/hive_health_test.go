package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

const installedCommit = "3f2a9c1d4e5b6a7980112233445566778899aabb"

// TestHiveHealthVerdicts points nodes at stub agents on loopback that answer
// what a broken or foreign agent would; the healthy verdict of a real agent
// is in TestLastInstallAndHealthLoopback.
func TestHiveHealthVerdicts(t *testing.T) {
	q := startQueen(t, filepath.Join(t.TempDir(), "beehives.db"))
	tests := []struct {
		name       string
		code       int
		body       string // "" with code 0: nothing listens
		want       string
		wantReason string
	}{
		{name: "garbage JSON", code: 200, body: `{ workers: [`, want: api.HealthIncompatible, wantReason: "not a health body"},
		{name: "API v9", code: 200, body: `{"status":"alive","version":"3f2a9c1d4e5b","api_version":"v9"}`,
			want: api.HealthIncompatible, wantReason: `agent speaks API "v9", the queen "v1"`},
		{name: "not alive", code: 200, body: `{"status":"draining","version":"3f2a9c1d4e5b","api_version":"v1"}`,
			want: api.HealthIncompatible, wantReason: `health status "draining", want "alive"`},
		{name: "no version", code: 200, body: `{"status":"alive","api_version":"v1"}`,
			want: api.HealthIncompatible, wantReason: "no version"},
		{name: "another route", code: 404, body: `404 page not found`, want: api.HealthIncompatible, wantReason: "404 Not Found"},
		{name: "another commit", code: 200, body: `{"status":"alive","version":"0123456789ab","api_version":"v1"}`,
			want: api.HealthDrift, wantReason: "running 0123456789ab, installed 3f2a9c1d4e5b"},
		{name: "another build", code: 200, body: `{"status":"alive","version":"dev","api_version":"v1"}`,
			want: api.HealthDrift, wantReason: "running dev, installed 3f2a9c1d4e5b"},
		{name: "12 hex of the installed commit", code: 200, body: `{"status":"alive","version":"3f2a9c1d4e5b","api_version":"v1"}`,
			want: api.HealthHealthy},
		{name: "nothing listens", want: api.HealthUnreachable, wantReason: "connection refused"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("stub-%d", i)
			addStubNode(t, q, name, stubAgent(t, tt.code, tt.body))
			st := hiveStatus(t, q, name)
			if st.Health != tt.want || st.Healthy != (tt.want == api.HealthHealthy) || !strings.Contains(st.HealthError, tt.wantReason) {
				t.Errorf("status %+v, want health %s (healthy %v) saying %q", st, tt.want, tt.want == api.HealthHealthy, tt.wantReason)
			}
		})
	}
	t.Run("no agent installed", func(t *testing.T) {
		addStubNode(t, q, "bare", "")
		if st := hiveStatus(t, q, "bare"); st.Health != api.HealthUnreachable || st.Healthy || st.HealthError != "no agent installed" {
			t.Errorf("status %+v, want unreachable: no agent installed", st)
		}
	})
}

// stubAgent serves body with code on loopback as the agent's health route
// and returns its URL; code 0 returns the URL of a closed port.
func stubAgent(t *testing.T, code int, body string) string {
	t.Helper()
	if code == 0 {
		return "http://127.0.0.1:" + fmt.Sprint(closedPort(t))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// addStubNode registers a node whose agent, installed at installedCommit,
// is at agentURL ("" for none).
func addStubNode(t *testing.T, q *queen, name, agentURL string) {
	t.Helper()
	n := api.Node{NodeName: name, SSHHost: "127.0.0.1", SSHPort: 22, GitRepoURL: "https://example.org/rbee.git",
		GitBranch: "main", InstallPath: "/opt/rbee", AgentPort: 7835, Status: api.StatusOnline,
		Transport: api.TransportHTTP} // a stub agent on loopback HTTP
	if agentURL != "" {
		n.AgentURL, n.InstalledCommit, n.AgentVersion = agentURL, installedCommit, installedCommit
	}
	if err := q.reg.Add(t.Context(), n); err != nil {
		t.Fatal(err)
	}
}

// TestLastInstallAndHealthLoopback installs a real agent, then an install
// that fails while the old agent keeps beating: the status stays online and
// the failure is the node's last install; a later good install replaces it.
func TestLastInstallAndHealthLoopback(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "last"})
	h := f.Hosts[0]
	q := installQueen(t, "127.0.0.1")
	addNodes(t, q, f)
	rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{h.Name}, Method: "build"})
	requireResults(t, rep, api.ResultInstalled)
	first := getNode(t, q, h.Name)
	if first.LastInstall.Result != api.ResultInstalled || first.LastInstall.FinishedUnix == 0 {
		t.Errorf("last install after the first install: %+v, want installed with its time", first.LastInstall)
	}

	t.Run("a real agent is healthy", func(t *testing.T) {
		st := hiveStatus(t, q, h.Name)
		if !st.Healthy || st.Health != api.HealthHealthy || st.HealthError != "" ||
			!(st.RunningVersion == first.InstalledCommit || api.SameCommit(st.RunningVersion, first.InstalledCommit)) {
			t.Errorf("status %+v, want healthy, running the installed commit %s", st, first.InstalledCommit)
		}
	})

	t.Run("a failed install leaves the status to heartbeats", func(t *testing.T) {
		pushBrokenBranch(t, f.Git.RepoDir)
		before := hiveStatus(t, q, h.Name)
		branch := "broken"
		q.stream(t, "PATCH", "/v1/hives/"+h.Name, api.UpdateNodeRequest{GitBranch: &branch})
		rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{h.Name}, Method: "build"})
		if r := rep.Results[0]; r.Result != api.ResultFailed || r.Phase != "get binary" {
			t.Fatalf("result %+v, want a build that fails in get binary", r)
		}
		awaitBeat(t, q, h.Name, time.Now())
		n := getNode(t, q, h.Name)
		if n.Status != api.StatusOnline {
			t.Errorf("status %q while the old agent beats, want online", n.Status)
		}
		li := n.LastInstall
		if li.Result != api.ResultFailed || li.Phase != "get binary" || !strings.Contains(li.Error, "broken.go") ||
			li.Hint == "" || li.FinishedUnix < first.LastInstall.FinishedUnix {
			t.Errorf("last install %+v, want the failed build with its error, hint and time", li)
		}
		st := hiveStatus(t, q, h.Name)
		if !st.Healthy || st.AgentPID != before.AgentPID || st.LastInstall != li || st.Status != api.StatusOnline {
			t.Errorf("hive status %+v, want the old agent healthy and online, last install %+v", st, li)
		}
	})

	t.Run("a later good install replaces the failure", func(t *testing.T) {
		branch := "main"
		q.stream(t, "PATCH", "/v1/hives/"+h.Name, api.UpdateNodeRequest{GitBranch: &branch})
		rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{h.Name}, Method: "build"})
		r := rep.Results[0]
		if r.Result == api.ResultFailed {
			t.Fatalf("install of main: %+v (%+v)", r, r.Error)
		}
		if li := getNode(t, q, h.Name).LastInstall; li.Result != r.Result || li.Phase != "" || li.Error != "" || li.Hint != "" {
			t.Errorf("last install %+v, want %s and no failure", li, r.Result)
		}
		if st := hiveStatus(t, q, h.Name); !st.Healthy {
			t.Errorf("status %+v, want healthy", st)
		}
	})
}

// awaitBeat waits for a heartbeat of name that arrived after since.
func awaitBeat(t *testing.T, q *queen, name string, since time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := fleet.Await(ctx, "a heartbeat of "+name, func() (bool, string, error) {
		st := hiveStatus(t, q, name)
		return st.LastHeartbeatUnix > since.Unix(), fmt.Sprint(st.LastHeartbeatUnix), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
