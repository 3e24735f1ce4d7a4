package server_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// TestInstallGitFailureShowsGitNotTheScript: a branch that does not exist
// fails the fetch with git's own words and a git command to run on the
// node, never the install's internal script.
func TestInstallGitFailureShowsGitNotTheScript(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "giterr"})
	h := f.Hosts[0]
	q := installQueen(t, "127.0.0.1")
	req := addRequest(f, h, "giterr")
	req.InstallPath, req.AgentPort, req.GitBranch = filepath.Join(h.InstallDir, "p"), freeAgentPort(t), "no-such-branch"
	if st := q.call(t, "POST", "/v1/hives", req, nil); st != http.StatusCreated {
		t.Fatalf("add: status %d", st)
	}
	r, _ := installOne(t, q, "giterr", "upload")
	if r.Result != api.ResultFailed || r.Phase != "fetch source" || r.Error == nil {
		t.Fatalf("result %+v (%+v), want a failed fetch", r, r.Error)
	}
	msg, hint := r.Error.Message, r.Error.Hint
	for _, want := range []string{"git could not get branch no-such-branch of " + f.Git.URL, "no-such-branch"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	for _, script := range []string{"set -e", "info/exclude", "rev-parse HEAD", "sh -c"} {
		if strings.Contains(msg, script) || strings.Contains(hint, script) {
			t.Errorf("the error shows the internal script (%q):\n%s\n%s", script, msg, hint)
		}
	}
	if !strings.Contains(hint, "git clone --branch no-such-branch -- "+f.Git.URL) || !strings.Contains(hint, "ssh ") {
		t.Errorf("hint %q: want the git command to run on the node", hint)
	}
}
