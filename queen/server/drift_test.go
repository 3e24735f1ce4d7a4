package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// TestDriftAndCheckLoopback is the proof of drift over real sshd: after a
// commit is pushed to the node's branch, the node shows the new branch
// head within one drift interval; install --check plans fetch + build +
// restart and changes nothing; after an install the check finds nothing
// to do and the branch head is the installed commit.
func TestDriftAndCheckLoopback(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "drift"})
	h := f.Hosts[0]
	const interval = time.Second
	q := installQueenWith(t, "127.0.0.1", func(c *server.Config) { c.DriftInterval = interval })
	addNodes(t, q, f)
	rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{h.Name}, Method: "build"})
	requireResults(t, rep, api.ResultInstalled)
	installed := getNode(t, q, h.Name).InstalledCommit

	check := func(t *testing.T, want string) api.InstallResult {
		t.Helper()
		rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{h.Name}, Method: "build", Check: true})
		if res := rep.Results[0]; res.Result != want {
			t.Fatalf("check: %s (plan %+v, error %+v), want %s", res.Result, res.Plan, res.Error, want)
		}
		return rep.Results[0]
	}
	t.Run("no drift right after install", func(t *testing.T) {
		res := check(t, api.ResultUpToDate)
		if res.Commit != installed || len(res.Plan) != 0 {
			t.Errorf("check %+v, want nothing to do at %s", res, installed)
		}
	})

	head := pushCommit(t, f.Git.RepoDir, "main")
	t.Run("behind within one interval", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), interval+10*time.Second)
		defer cancel()
		start := time.Now()
		err := fleet.Await(ctx, "the node to show branch head "+head, func() (bool, string, error) {
			n := getNode(t, q, h.Name)
			return n.BranchHead == head, n.BranchHead, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited > interval+3*time.Second {
			t.Errorf("drift seen after %v, want within about one interval (%v)", waited, interval)
		}
		if n := getNode(t, q, h.Name); n.InstalledCommit != installed {
			t.Errorf("installed commit %s changed to %s without an install", installed, n.InstalledCommit)
		}
	})
	t.Run("check plans fetch and build, and changes nothing", func(t *testing.T) {
		res := check(t, api.ResultWouldChange)
		steps := []string{}
		for _, st := range res.Plan {
			steps = append(steps, st.Step)
		}
		if want := []string{api.StepFetch, api.StepBuild, api.StepRestart}; !slices.Equal(steps, want) || res.Commit != head {
			t.Errorf("plan %+v at %s, want steps %v at %s", res.Plan, res.Commit, want, head)
		}
		again := check(t, api.ResultWouldChange) // the first check fetched nothing
		if len(again.Plan) != 3 {
			t.Errorf("second check plan %+v, want the same three steps", again.Plan)
		}
		if st := hiveStatus(t, q, h.Name); !api.SameCommit(st.RunningVersion, installed) {
			t.Errorf("the agent runs %s after the checks, want the old %s", st.RunningVersion, installed)
		}
	})
	t.Run("after install no drift", func(t *testing.T) {
		rep, _ := installNodes(t, q, api.InstallRequest{Nodes: []string{h.Name}, Method: "build"})
		requireResults(t, rep, api.ResultInstalled)
		res := check(t, api.ResultUpToDate)
		n := getNode(t, q, h.Name)
		if n.InstalledCommit != head || n.BranchHead != head || res.Commit != head {
			t.Errorf("installed %s, branch head %s, check at %s; want all %s", n.InstalledCommit, n.BranchHead, res.Commit, head)
		}
	})
}

// pushCommit pushes a commit that changes only a text file to branch of
// the bare repository and returns it.
func pushCommit(t testing.TB, bare, branch string) string {
	t.Helper()
	work := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	git("clone", "-q", "--branch", branch, bare, work)
	if err := os.WriteFile(filepath.Join(work, "DRIFT.txt"), []byte("a new commit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("-C", work, "add", "-A")
	git("-C", work, "commit", "-q", "-m", "move the branch on")
	git("-C", work, "push", "-q", "origin", branch)
	head := git("-C", work, "rev-parse", "HEAD")
	return head[:40]
}
