package server_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// trustNode registers a node on host h with its own install path and agent
// port.
func trustNode(t *testing.T, q *queen, f *fleet.Fleet, h *fleet.Host, name, installPath string) {
	t.Helper()
	req := addRequest(f, h, name)
	req.InstallPath, req.AgentPort = installPath, freeAgentPort(t)
	if st := q.call(t, "POST", "/v1/hives", req, nil); st != http.StatusCreated {
		t.Fatalf("add %s: status %d", name, st)
	}
}

func installOne(t *testing.T, q *queen, name, method string) (api.InstallResult, []api.Event) {
	t.Helper()
	rep, events := installNodes(t, q, api.InstallRequest{Nodes: []string{name}, Method: method})
	return rep.Results[0], events
}

func requireExist(t *testing.T, want bool, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", p, err == nil, want)
		}
	}
}

func eventsText(events []api.Event) string {
	var b strings.Builder
	for _, ev := range events {
		b.WriteString(ev.Level + " " + ev.Message + "\n")
		if ev.Error != nil {
			b.WriteString(ev.Error.Message + " | " + ev.Error.Hint + "\n")
		}
	}
	return b.String()
}

// TestInstallNeverTouchesWhatItDidNotCreate installs next to a user's
// files over real sshd and checks that install refuses a folder that is
// not its own and uninstall removes exactly what install recorded.
func TestInstallNeverTouchesWhatItDidNotCreate(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "trust"})
	h := f.Hosts[0]
	q := installQueen(t, "127.0.0.1")

	t.Run("a folder holding the user's files is refused, untouched", func(t *testing.T) {
		p := filepath.Join(h.InstallDir, "foreign")
		mustWrite(t, filepath.Join(p, "thesis.txt"), "the only copy")
		trustNode(t, q, f, h, "foreign", p)
		r, _ := installOne(t, q, "foreign", "upload")
		if r.Result != api.ResultFailed || r.Phase != "probe" || !strings.Contains(r.Error.Message, "not empty and is not a checkout") {
			t.Fatalf("result %+v (%+v), want a refusal in probe", r, r.Error)
		}
		entries, _ := os.ReadDir(p)
		if len(entries) != 1 || readFile(t, filepath.Join(p, "thesis.txt")) != "the only copy" {
			t.Errorf("install touched %s: %v", p, entries)
		}
	})

	t.Run("uninstall of a folder install created removes the folder", func(t *testing.T) {
		p := filepath.Join(h.InstallDir, "clean")
		trustNode(t, q, f, h, "clean", p)
		if r, _ := installOne(t, q, "clean", "upload"); r.Result != api.ResultInstalled {
			t.Fatalf("install: %+v (%+v)", r, r.Error)
		}
		uninstall(t, q, "clean", false)
		requireExist(t, false, p)
	})

	t.Run("a checkout the user made is kept", func(t *testing.T) {
		p := filepath.Join(h.InstallDir, "mine")
		if out, err := exec.Command("git", "clone", "-q", f.Git.URL, p).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
		trustNode(t, q, f, h, "mine", p)
		if r, _ := installOne(t, q, "mine", "upload"); r.Result != api.ResultInstalled {
			t.Fatalf("install: %+v (%+v)", r, r.Error)
		}
		text := uninstall(t, q, "mine", false)
		requireExist(t, true, filepath.Join(p, ".git"), filepath.Join(p, "go.mod"))
		requireExist(t, false, filepath.Join(p, "bin"), filepath.Join(p, "hive-agent.json"), filepath.Join(p, ".rbee-install.json"))
		if !strings.Contains(text, "install did not clone it") {
			t.Errorf("uninstall did not say why it kept the checkout:\n%s", text)
		}
	})

	p := filepath.Join(h.InstallDir, "fresh")
	trustNode(t, q, f, h, "fresh", p)
	r, events := installOne(t, q, "fresh", "upload")
	if r.Result != api.ResultInstalled {
		t.Fatalf("install: %+v (%+v)", r, r.Error)
	}
	t.Run("the full commit is recorded and a binary of another commit is flagged", func(t *testing.T) {
		n := getNode(t, q, "fresh")
		if len(n.InstalledCommit) != 40 || r.Commit != n.InstalledCommit {
			t.Errorf("installed commit %q (result %q), want the checkout's full commit", n.InstalledCommit, r.Commit)
		}
		if text := eventsText(events); !strings.Contains(text, "warn ⚠️ the uploaded hive-agent is uploadtest01") {
			t.Errorf("no warning that the uploaded binary is not the checkout's commit:\n%s", text)
		}
	})

	t.Run("a binary that cannot run is replaced", func(t *testing.T) {
		agent := filepath.Join(p, "bin", "hive-agent")
		if err := os.Chmod(agent, 0o644); err != nil {
			t.Fatal(err)
		}
		r, _ := installOne(t, q, "fresh", "upload")
		if r.Result != api.ResultInstalled || r.Method != "upload" {
			t.Fatalf("result %+v (%+v), want a new upload", r, r.Error)
		}
		if info, err := os.Stat(agent); err != nil || info.Mode().Perm()&0o100 == 0 {
			t.Errorf("agent binary after install: %v %v", info, err)
		}
	})

	t.Run("start fails at once when the agent dies at once", func(t *testing.T) {
		q.stream(t, "POST", "/v1/hives/fresh/stop", nil)
		mustWrite(t, filepath.Join(p, "hive-agent.json"), "{ not json")
		events := q.stream(t, "POST", "/v1/hives/fresh/start", nil)
		last := events[len(events)-1]
		if last.Error == nil || !strings.Contains(last.Error.Message, "exited right after it was started") ||
			!strings.Contains(last.Error.Message, "config") {
			t.Fatalf("start: %s\nwant the agent's exit with its log tail", eventsText(events))
		}
		if r, _ := installOne(t, q, "fresh", "upload"); r.Result != api.ResultInstalled {
			t.Fatalf("install after a broken config: %+v (%+v)", r, r.Error)
		}
	})

	t.Run("uninstall leaves the user's files and says so", func(t *testing.T) {
		model := filepath.Join(p, "models", "weights.gguf")
		mustWrite(t, model, "user data")
		text := uninstall(t, q, "fresh", false)
		if readFile(t, model) != "user data" {
			t.Errorf("the user's file changed")
		}
		requireExist(t, false, filepath.Join(p, "bin"), filepath.Join(p, "run"), filepath.Join(p, "logs"),
			filepath.Join(p, "hive-agent.json"), filepath.Join(p, ".rbee-install.json"))
		if !strings.Contains(text, "kept the checkout") || !strings.Contains(text, "models/") {
			t.Errorf("uninstall did not say what it kept:\n%s", text)
		}
	})

	t.Run("without a manifest uninstall refuses and touches nothing", func(t *testing.T) {
		p := filepath.Join(h.InstallDir, "old")
		if out, err := exec.Command("git", "clone", "-q", f.Git.URL, p).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
		trustNode(t, q, f, h, "old", p)
		events := q.stream(t, "POST", "/v1/hives/old/uninstall", nil)
		last := events[len(events)-1]
		if last.Error == nil || !strings.Contains(last.Error.Message, "no install manifest") {
			t.Fatalf("uninstall without a manifest: %s", eventsText(events))
		}
		requireExist(t, true, filepath.Join(p, ".git"), filepath.Join(p, "go.mod"))
	})
}

// uninstall runs a successful uninstall and returns its events as text.
func uninstall(t *testing.T, q *queen, name string, keepSource bool) string {
	t.Helper()
	events := q.stream(t, "POST", "/v1/hives/"+name+"/uninstall", api.UninstallRequest{KeepSource: keepSource})
	if last := events[len(events)-1]; last.Error != nil {
		t.Fatalf("uninstall %s: %s", name, eventsText(events))
	}
	return eventsText(events)
}

func mustWrite(t *testing.T, file, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
