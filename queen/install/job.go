package install

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/shared/api"
)

// job is the state of one node's install, passed from phase to phase.
type job struct {
	in     *Installer
	node   api.Node
	method string
	report Reporter

	client *provision.Client
	facts  map[string]string // from the probe
	commit string            // HEAD of the checkout
	made   string            // "build" or "upload" when a new binary was made

	configChanged bool
	oldPID        int // the agent running before, 0 if none
	restarted     bool
	startedAt     time.Time
	newPID        int
	beat          api.HeartbeatRequest
}

func (j *job) phases() []phase {
	return []phase{
		{PhaseConnect, j.connect},
		{PhaseProbe, j.probe},
		{PhaseFetch, j.fetch},
		{PhaseBinary, j.binary},
		{PhaseConfig, j.writeConfig},
		{PhaseStart, j.start},
		{PhaseHeartbeat, j.awaitHeartbeat},
		{PhaseRecord, j.record},
	}
}

// upToDate reports whether the install changed nothing on the node.
func (j *job) upToDate() bool {
	return j.made == "" && !j.configChanged && j.newPID == 0
}

func (j *job) close() {
	if j.client != nil {
		j.client.Close()
	}
}

func (j *job) say(phase, format string, args ...any) {
	j.report(api.LevelInfo, phase, fmt.Sprintf(format, args...), 0)
}

func (j *job) connect(ctx context.Context) error {
	j.say(PhaseConnect, "🔌 connecting to %s", j.node.SSHHost)
	target := provision.Target{
		Host: j.node.SSHHost, Port: j.node.SSHPort, User: j.node.SSHUser, KeyPath: j.node.SSHKeyPath,
		HostKey: j.node.HostKey,
	}
	policy := j.in.Retry
	policy.OnAttempt = func(attempt, total int, err error, next time.Duration) {
		if provision.Retryable(err) && next > 0 {
			j.report(api.LevelWarn, PhaseConnect, fmt.Sprintf("⏳ attempt %d/%d failed: %v (retrying in %v)",
				attempt, total, err, next.Round(time.Millisecond)), 0)
		}
	}
	c, err := provision.DialWithRetry(ctx, target, policy, j.in.Dial)
	if err != nil {
		return err
	}
	j.client = c
	return nil
}

// run runs a constant script with positional arguments on the node.
func (j *job) run(ctx context.Context, script string, args ...string) (string, error) {
	out, err := j.client.Run(ctx, provision.Command("sh", append([]string{"-c", script, "sh"}, args...)...))
	return string(out), err
}

// keyValues parses key=value lines.
func keyValues(out string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = strings.TrimSpace(v)
		}
	}
	return kv
}

// minFreeKiB is the space an install needs: a checkout plus a Go build, or
// just the binary for an upload.
var minFreeKiB = map[string]int64{MethodBuild: 512 << 10, MethodUpload: 64 << 10}

func (j *job) probe(ctx context.Context) error {
	sha := ""
	if j.method == MethodUpload || j.method == MethodAuto {
		sha = "sha" // only an upload compares the installed binary's hash
	}
	out, err := j.run(ctx, probeScript, j.node.InstallPath, j.node.GitRepoURL, j.node.GitBranch, sha)
	if err != nil {
		return fmt.Errorf("probe the node: %w", err)
	}
	j.facts = keyValues(out)
	f := j.facts
	f["os"], f["arch"], _ = strings.Cut(f["os_arch"], " ")
	j.say(PhaseProbe, "%s/%s, %s, %s", f["os"], f["arch"], orMissing(f["git"], "git"), orMissing(f["go"], "go"))
	if f["git"] == "" {
		return withHint("install git on the node (e.g. `sudo apt-get install git`), then run install again",
			"git is missing on the node")
	}
	if j.method == MethodAuto {
		j.method = MethodUpload
		if f["go"] != "" {
			j.method = MethodBuild
		}
	}
	if j.method == MethodBuild && f["go"] == "" {
		return withHint("install Go 1.26 on the node, or install with `--method upload`", "go is missing on the node")
	}
	if f["writable"] != "yes" {
		return withHint(fmt.Sprintf("make it writable for %s (e.g. `sudo install -d -o %s %s`) or pick another path with "+
			"`queen setup update-node --name %s --install-path …`", f["user"], f["user"], provision.Quote(j.node.InstallPath), j.node.NodeName),
			"install path %s is not writable by %s", j.node.InstallPath, f["user"])
	}
	var free int64
	fmt.Sscan(f["free_kib"], &free)
	if need := minFreeKiB[j.method]; free < need {
		return withHint("free some space on the node or pick another install path",
			"only %d MiB free at %s; a %s install needs %d MiB", free>>10, j.node.InstallPath, j.method, need>>10)
	}
	return nil
}

func orMissing(v, what string) string {
	if v == "" {
		return what + " missing"
	}
	return v
}

func (j *job) fetch(ctx context.Context) error {
	if head := j.facts["current"]; len(head) == 40 {
		j.commit = head
		j.say(PhaseFetch, "checkout is at the head of %s (%s)", j.node.GitBranch, short(head))
		return nil
	}
	verb := "cloning"
	if j.facts["checkout"] == "yes" {
		verb = "fetching"
	}
	j.say(PhaseFetch, "📦 %s %s (%s)", verb, j.node.GitRepoURL, j.node.GitBranch)
	out, err := j.run(ctx, fetchScript, j.node.InstallPath, j.node.GitRepoURL, j.node.GitBranch)
	if err != nil {
		return fmt.Errorf("git: %w", err)
	}
	lines := strings.Fields(out)
	if len(lines) == 0 || len(lines[len(lines)-1]) != 40 {
		return fmt.Errorf("git rev-parse HEAD answered %q", out)
	}
	j.commit = lines[len(lines)-1]
	j.say(PhaseFetch, "at commit %s", short(j.commit))
	return nil
}
