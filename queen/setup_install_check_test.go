package main

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

const (
	checkHead = "89abcdef0123456789abcdef0123456789abcdef"
	checkOld  = "3f2a9c1d4e5b3f2a9c1d4e5b3f2a9c1d4e5b3f2a"
)

// TestInstallCheckExitCodes: `install --all --check` sends check, prints
// per node what an install would do and why, and exits 2 when something
// would change, 0 when nothing would (terraform plan -detailed-exitcode).
func TestInstallCheckExitCodes(t *testing.T) {
	behind := api.InstallResult{Node: "gpu-1", Result: api.ResultWouldChange, Commit: checkHead, Method: "build", Plan: []api.PlanStep{
		{Step: api.StepFetch, Why: "checkout at 3f2a9c1d4e5b, branch head 89abcdef0123"},
		{Step: api.StepBuild, Why: "the installed hive-agent is 3f2a9c1d4e5b, the branch head 89abcdef0123"},
		{Step: api.StepRestart, Why: "to run the new binary"}}}
	current := api.InstallResult{Node: "gpu-2", Result: api.ResultUpToDate, Commit: checkHead}
	tests := []struct {
		name     string
		report   api.InstallReport
		wantCode int
		wantOut  string
	}{
		{name: "a node behind", report: api.InstallReport{Results: []api.InstallResult{behind, current}}, wantCode: exitChanges,
			wantOut: "gpu-1: fetch + build + restart\n" +
				"  fetch:   checkout at 3f2a9c1d4e5b, branch head 89abcdef0123\n" +
				"  build:   the installed hive-agent is 3f2a9c1d4e5b, the branch head 89abcdef0123\n" +
				"  restart: to run the new binary\n" +
				"gpu-2: nothing to do (at 89abcdef0123)\n" +
				"\n1 would change, 1 up to date, 0 failed\n"},
		{name: "all current", report: api.InstallReport{Results: []api.InstallResult{current}}, wantCode: 0,
			wantOut: "gpu-2: nothing to do (at 89abcdef0123)\n\n0 would change, 1 up to date, 0 failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearQueenEnv(t)
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				answerEvents(t, w, doneEvent(t, "", "check done", tt.report))
			})
			res := runQueen(t, q.args("setup", "install", "--all", "--check")...)
			if got, want := strings.TrimSpace(string(q.last(t).body)), `{"all":true,"method":"auto","parallel":16,"check":true}`; got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			if res.stdout != tt.wantOut {
				t.Errorf("stdout\n%s\nwant\n%s", res.stdout, tt.wantOut)
			}
			if changes := errors.Is(res.err, errChangesPending); changes != (tt.wantCode == exitChanges) || (res.err != nil && !changes) {
				t.Errorf("err = %v, want changes pending: %v", res.err, tt.wantCode == exitChanges)
			}
			var stderr bytes.Buffer
			if code := run(q.args("setup", "install", "--all", "--check", "--json"), &stderr); code != tt.wantCode || stderr.Len() != 0 {
				t.Errorf("exit %d, stderr %q; want exit %d and nothing on stderr", code, stderr.String(), tt.wantCode)
			}
		})
	}
}

// TestCommitLine: list-nodes shows the installed commit with "behind by"
// the branch head when the branch moved on, and "running" the agent's
// version when it is another commit.
func TestCommitLine(t *testing.T) {
	tests := []struct {
		name string
		node api.Node
		want string
	}{
		{name: "no head seen yet", node: api.Node{InstalledCommit: checkOld}, want: "3f2a9c1d4e5b"},
		{name: "at the head", node: api.Node{InstalledCommit: checkOld, BranchHead: checkOld, AgentVersion: checkOld}, want: "3f2a9c1d4e5b"},
		{name: "behind", node: api.Node{InstalledCommit: checkOld, BranchHead: checkHead, GitBranch: "main"},
			want: "3f2a9c1d4e5b, behind by 89abcdef0123 (head of main)"},
		{name: "running another", node: api.Node{InstalledCommit: checkOld, BranchHead: checkOld, AgentVersion: "89abcdef0123"},
			want: "3f2a9c1d4e5b, running 89abcdef0123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commitLine(tt.node); got != tt.want {
				t.Errorf("commitLine = %q, want %q", got, tt.want)
			}
		})
	}
}
