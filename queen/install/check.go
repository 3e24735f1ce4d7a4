package install

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/shared/api"
)

// Check says what an install of n with method would do (install --check),
// changing nothing on the node: it connects and probes as install does,
// then plans fetch (the checkout is not at the branch head), build or
// upload (the installed binaries are not the ones of that commit) and
// restart (a new binary, or no agent running), each with why. The result
// is api.ResultUpToDate with no plan, api.ResultWouldChange with one, or
// api.ResultFailed when the probe failed. The agent's config is not
// compared: an install that would only rewrite it is not seen.
func (in *Installer) Check(ctx context.Context, n api.Node, method string) api.InstallResult {
	start := time.Now()
	j := &job{in: in, node: n, method: method, report: func(string, string, string, time.Duration) {}}
	defer j.close()
	res := api.InstallResult{Node: n.NodeName}
	failed, err := runPhases(ctx, []phase{{PhaseConnect, j.connect}, {PhaseProbe, j.probe}}, j.report)
	if err == nil {
		failed = PhaseFetch
		res.Commit, res.Plan, err = j.checkPlan(ctx)
	}
	res.DurationMS = time.Since(start).Milliseconds()
	switch {
	case err != nil:
		res.Result, res.Phase = api.ResultFailed, failed
		res.Error = &api.ErrorDetail{Code: api.CodeInstallFailed,
			Message: fmt.Sprintf("%s: %v", failed, err), Hint: hintFor(failed, err)}
	case len(res.Plan) > 0:
		res.Result, res.Method = api.ResultWouldChange, j.method
	default:
		res.Result = api.ResultUpToDate
	}
	return res
}

// checkPlan returns the commit an install would put on the node (the
// branch head) and the steps it would take, from the probe's facts.
func (j *job) checkPlan(ctx context.Context) (string, []api.PlanStep, error) {
	var plan []api.PlanStep
	head := j.facts["current"]
	if head == "" {
		var why string
		var err error
		head, why, err = j.behind(ctx)
		if err != nil {
			return "", nil, err
		}
		plan = append(plan, api.PlanStep{Step: api.StepFetch, Why: why})
	}
	if step, why := j.binaryPlan(head); step != "" {
		plan = append(plan, api.PlanStep{Step: step, Why: why},
			api.PlanStep{Step: api.StepRestart, Why: "to run the new binary"})
	} else if j.facts["pid"] == "" {
		plan = append(plan, api.PlanStep{Step: api.StepRestart, Why: "no agent runs"})
	}
	return head, plan, nil
}

// checkoutScript prints the head of branch $3 of repository $2 (head=) and
// the commit checkout $1 is at (checkout=, empty when it is none).
const checkoutScript = `echo "head=$(git ls-remote -- "$2" "refs/heads/$3" | cut -f1)"
echo "checkout=$(git -C "$1" rev-parse HEAD 2>/dev/null)"`

// behind returns the branch head and why a fetch is needed.
func (j *job) behind(ctx context.Context) (head, why string, err error) {
	out, err := j.run(ctx, checkoutScript, j.node.InstallPath, j.node.GitRepoURL, j.node.GitBranch)
	if err != nil {
		return "", "", fmt.Errorf("read the branch head: %w", err)
	}
	kv := keyValues(out)
	head = kv["head"]
	if !api.IsCommit(head) {
		return "", "", withHint(fmt.Sprintf("check the repository URL and branch with `queen setup list-nodes`; fix them with `queen setup update-node --name %s`", j.node.NodeName),
			"git ls-remote found no branch %s in %s", j.node.GitBranch, j.node.GitRepoURL)
	}
	switch c := kv["checkout"]; {
	case j.facts["checkout"] != "yes" || c == "":
		why = "no checkout at " + j.node.InstallPath
	case c == head:
		why = "the checkout has local changes or another branch or origin"
	default:
		why = fmt.Sprintf("checkout at %s, branch head %s", short(c), short(head))
	}
	return head, why, nil
}

// binaryPlan returns build or upload and why when the installed binaries
// are not the ones an install of head would leave, else "".
func (j *job) binaryPlan(head string) (step, why string) {
	if j.method == MethodUpload {
		if want := j.in.localAgent().sha256; want != j.facts["binary_sha256"] {
			return api.StepUpload, "the installed hive-agent differs from the queen's (sha256)"
		}
		if want := j.in.localWorker().sha256; want != j.facts["worker_sha256"] {
			return api.StepUpload, "the installed rbee-worker differs from the queen's (sha256)"
		}
		return "", ""
	}
	switch v := versionOf(j.facts["binary"]); {
	case v == "":
		return api.StepBuild, "no hive-agent that runs is installed"
	case v != head:
		return api.StepBuild, fmt.Sprintf("the installed hive-agent is %s, the branch head %s", short(v), short(head))
	case j.facts["worker_x"] != "yes":
		return api.StepBuild, "no rbee-worker is installed"
	}
	return "", ""
}

// BranchHead returns the newest commit of n's branch as the node sees it:
// `git ls-remote` over the node's connection (the pooled one when Conns is
// set), so a repository only the node can reach works too.
func (in *Installer) BranchHead(ctx context.Context, n api.Node) (string, error) {
	j := &job{in: in, node: n, report: func(string, string, string, time.Duration) {}}
	defer j.close()
	if err := j.connect(ctx); err != nil {
		return "", fmt.Errorf("connect to read the branch head: %w", err)
	}
	out, err := j.client.Run(ctx, provision.Command("git", "ls-remote", "--", n.GitRepoURL, "refs/heads/"+n.GitBranch))
	if err != nil {
		return "", fmt.Errorf("git ls-remote on the node: %w", err)
	}
	head, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if !api.IsCommit(head) {
		return "", fmt.Errorf("git ls-remote found no branch %s in %s; fix it with `queen setup update-node --name %s --git-branch …`",
			n.GitBranch, n.GitRepoURL, n.NodeName)
	}
	return head, nil
}
