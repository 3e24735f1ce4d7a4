package install

import (
	"bufio"
	"context"
	"fmt"
	"path"
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
	pooled bool              // client belongs to in.Conns
	facts  map[string]string // from the probe
	commit string            // HEAD of the checkout, full
	made   string            // "build" or "upload" when a new binary was made
	// prev is the node's install manifest (zero when it had none) and plan
	// the one this install writes.
	prev, plan manifest
	// agentVersion is what the installed binary says its version is.
	agentVersion string
	// placedVersion is what the agent said when run right after an upload.
	placedVersion string

	configChanged bool
	oldPID        int // the agent running before, 0 if none
	launchedPID   int // the agent process this job started, 0 if none
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
	if j.client != nil && !j.pooled {
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
	if j.in.Conns != nil {
		c, err := j.in.Conns.Get(ctx, j.node, policy.OnAttempt)
		if err != nil {
			return err
		}
		j.client, j.pooled = c, true
		return nil
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
	reach := j.checkReach(ctx)
	out, err := j.run(ctx, probeScript, j.node.InstallPath, j.node.GitRepoURL, j.node.GitBranch, sha,
		strings.Join(knownPaths(), " "), j.knownStat(0), j.knownStat(1))
	reachErr := <-reach
	if err != nil {
		return fmt.Errorf("probe the node: %w", err)
	}
	j.facts = keyValues(out)
	j.in.Hashes.fill(j.node.NodeName, j.node.InstallPath, j.facts)
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
	if reachErr != nil {
		return reachErr
	}
	return j.checkInstallPath()
}

// knownStat is the stat of the i-th of binaryFacts on the node whose hash
// the queen knows, for the probe to skip hashing it again.
func (j *job) knownStat(i int) string {
	return j.in.Hashes.known(j.node.NodeName, path.Join(j.node.InstallPath, binaryFacts[i].file))
}

// checkReach checks, while the probe script runs, that the node's
// transport can work: the forwarding its sshd must allow (ssh), or the
// agent port the queen must reach (http). The verdict arrives on the
// channel, nil when it can.
func (j *job) checkReach(ctx context.Context) <-chan error {
	verdict := make(chan error, 1)
	go func() {
		if j.sshTransport() {
			if problems := CheckForwarding(ctx, j.client); len(problems) > 0 {
				verdict <- forwardingError(j.node.NodeName, problems)
				return
			}
		} else if problem := CheckDirectPort(ctx, j.client.Endpoint().HostName, j.node.AgentPort); problem != "" {
			verdict <- directPortError(j.node.NodeName, problem)
			return
		}
		verdict <- nil
	}()
	return verdict
}

// checkInstallPath decides whether install may use the install path, and
// plans the manifest: a path that is missing or empty is install's to
// fill; one with a manifest was installed before; a checkout of the
// node's repository is used and kept; anything else is refused, touching
// nothing.
func (j *job) checkInstallPath() error {
	f, p := j.facts, j.node.InstallPath
	if m := f["manifest"]; m != "" {
		prev, err := parseManifest(m)
		if err != nil {
			return withHint(fmt.Sprintf("look at %s/%s on the node; remove it if rbee did not write it, then run install again", p, ManifestName),
				"the install manifest at %s is not one this queen wrote: %v", p, err)
		}
		j.prev = prev
	}
	switch {
	case f["dir"] == "notdir":
		return withHint(j.otherPathHint(), "install path %s exists and is not a folder", p)
	case f["dir"] == "nonempty" && f["manifest"] == "" && (f["checkout"] != "yes" || f["origin"] != j.node.GitRepoURL):
		return withHint(j.otherPathHint()+", or empty it yourself",
			"install path %s is not empty and is not a checkout of %s; install touches nothing there", p, j.node.GitRepoURL)
	case f["manifest"] == "":
		j.prev = manifest{CreatedDir: f["dir"] == "missing", Cloned: f["checkout"] != "yes"}
	}
	j.plan = j.prev.plan(strings.Fields(f["exists"]))
	return nil
}

func (j *job) otherPathHint() string {
	return fmt.Sprintf("pick a new or empty folder with `queen setup update-node --name %s --install-path …`", j.node.NodeName)
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
		return j.writeManifest(ctx)
	}
	verb := "cloning"
	if j.facts["checkout"] == "yes" {
		verb = "fetching"
	}
	j.say(PhaseFetch, "📦 %s %s (%s)", verb, j.node.GitRepoURL, j.node.GitBranch)
	out, err := j.run(ctx, fetchScript, j.node.InstallPath, j.node.GitRepoURL, j.node.GitBranch)
	if err != nil {
		return j.gitFailure(verb, err)
	}
	lines := strings.Fields(out)
	if len(lines) == 0 || len(lines[len(lines)-1]) != 40 {
		return fmt.Errorf("git rev-parse HEAD answered %q", out)
	}
	j.commit = lines[len(lines)-1]
	j.say(PhaseFetch, "at commit %s", short(j.commit))
	return j.writeManifest(ctx)
}

// gitFailure shows what git said (not the script around it) and the git
// command a user can run on the node to see it again.
func (j *job) gitFailure(verb string, err error) error {
	stderr := provision.StderrOf(err)
	if stderr == nil {
		return fmt.Errorf("git: %w", err) // the connection, not git
	}
	n := j.node
	gitCmd := provision.Command("git", "-C", n.InstallPath, "fetch", "origin", "+refs/heads/"+n.GitBranch)
	if verb == "cloning" {
		gitCmd = provision.Command("git", "clone", "--branch", n.GitBranch, "--", n.GitRepoURL, n.InstallPath)
	}
	return withHint(fmt.Sprintf("fix the repository URL or branch with `queen setup update-node --name %s`, or see it on the node: %s -- %s",
		n.NodeName, j.sshCommand(), gitCmd),
		"git could not get branch %s of %s:\n%s", n.GitBranch, n.GitRepoURL, lastLines(stderr, 10, err))
}

// sshCommand is the ssh command line that logs in to the node as install
// does.
func (j *job) sshCommand() string {
	var args []string
	if j.node.SSHPort != 0 && j.node.SSHPort != 22 {
		args = append(args, "-p", fmt.Sprint(j.node.SSHPort))
	}
	if j.node.SSHKeyPath != "" {
		args = append(args, "-i", j.node.SSHKeyPath)
	}
	dest := j.node.SSHHost
	if j.node.SSHUser != "" {
		dest = j.node.SSHUser + "@" + dest
	}
	return provision.Command("ssh", append(args, dest)...)
}

// writeManifest records on the node what this install may create, before
// it creates it, so an install cut short is still uninstalled exactly. A
// manifest that is already right is not written again.
func (j *job) writeManifest(ctx context.Context) error {
	data := j.plan.encode()
	if data == j.facts["manifest"] {
		return nil
	}
	file := path.Join(j.node.InstallPath, ManifestName)
	if err := j.client.WriteFileAtomic(ctx, file, []byte(data+"\n"), 0o644); err != nil {
		return fmt.Errorf("write the install manifest %s: %w", file, err)
	}
	return nil
}
