package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// TestInstallNetns installs onto 3 netns hosts by build, cuts one off the
// network while it builds, and checks that only that node fails (naming
// the phase), that no partial binary is left, and that a re-run after Heal
// completes; then installs all by upload.
func TestInstallNetns(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Netns, Hosts: 3, Prefix: "ninst"})
	q := installQueen(t, f.Net.BridgeIP)
	addNodes(t, q, f)
	victim := f.Hosts[1]

	var once sync.Once
	var cutErr error
	events := q.streamFunc(t, "POST", "/v1/install", api.InstallRequest{All: true, Method: "build"}, func(ev api.Event) {
		if ev.Node == victim.Name && ev.Phase == "get binary" && strings.Contains(ev.Message, "building") {
			once.Do(func() { cutErr = f.Cut(victim) })
		}
	})
	if cutErr != nil {
		t.Fatal(cutErr)
	}
	rep := reportOf(t, events)
	for _, r := range rep.Results {
		switch {
		case r.Node == victim.Name:
			if r.Result != api.ResultFailed || r.Phase != "get binary" {
				t.Errorf("cut node: %+v (error %+v), want failed in phase get binary", r, r.Error)
			}
		case r.Result != api.ResultInstalled:
			t.Errorf("%s: %+v (error %+v), want installed", r.Node, r, r.Error)
		}
	}
	if n := getNode(t, q, victim.Name); n.Status == api.StatusOnline || n.LastInstall.Result != api.ResultFailed ||
		n.LastInstall.Phase != "get binary" {
		t.Errorf("cut node: status %q, last install %+v; want not online, the install failed in get binary", n.Status, n.LastInstall)
	}
	assertNoPartialBinary(t, victim)

	if err := f.Heal(victim); err != nil {
		t.Fatal(err)
	}
	rep, _ = installNodes(t, q, api.InstallRequest{All: true, Method: "build"})
	for _, r := range rep.Results {
		want := api.ResultUpToDate
		if r.Node == victim.Name {
			want = api.ResultInstalled
		}
		if r.Result != want {
			t.Errorf("re-run %s: %s (error %+v), want %s", r.Node, r.Result, r.Error, want)
		}
	}
	for _, h := range f.Hosts {
		if st := hiveStatus(t, q, h.Name); !st.Healthy || st.Status != api.StatusOnline {
			t.Errorf("%s after re-run: %+v", h.Name, st)
		}
	}

	rep, _ = installNodes(t, q, api.InstallRequest{All: true, Method: "upload"})
	requireResults(t, rep, api.ResultInstalled)
	for _, h := range f.Hosts {
		if n := getNode(t, q, h.Name); n.AgentVersion != "uploadtest01" || n.Status != api.StatusOnline {
			t.Errorf("%s after upload: version %q status %q", h.Name, n.AgentVersion, n.Status)
		}
	}
}

// assertNoPartialBinary checks that P/bin holds nothing but complete,
// executable agents (a temp file may remain only if the build finished).
func assertNoPartialBinary(t testing.TB, h *fleet.Host) {
	t.Helper()
	bin := filepath.Join(h.InstallDir, "bin", "hive-agent")
	info, err := os.Stat(bin)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil || info.Mode()&0o111 == 0 || len(data) < 4 || string(data[1:4]) != "ELF" {
		t.Errorf("%s is not a complete executable (mode %v, %d bytes, %v)", bin, info.Mode(), len(data), err)
	}
}

// streamFunc is stream with a callback for every event as it arrives.
func (q *queen) streamFunc(t testing.TB, method, path string, body any, fn func(api.Event)) []api.Event {
	t.Helper()
	resp := q.do(t, method, path, body, token, true)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d", method, path, resp.StatusCode)
	}
	var events []api.Event
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev api.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("decode event %q: %v", sc.Bytes(), err)
		}
		fn(ev)
		events = append(events, ev)
	}
	return events
}

func reportOf(t testing.TB, events []api.Event) api.InstallReport {
	t.Helper()
	var rep api.InstallReport
	if len(events) == 0 {
		t.Fatal("no events")
	}
	if err := json.Unmarshal(events[len(events)-1].Result, &rep); err != nil {
		t.Fatalf("install result: %v (%+v)", err, events[len(events)-1])
	}
	return rep
}
