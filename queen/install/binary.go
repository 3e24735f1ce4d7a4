package install

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rbee-fleet/rbee/provision"
)

// binary makes sure P/bin/hive-agent is the agent of this install: built
// from the checkout's commit, or the queen's prebuilt one uploaded. The
// installed binary is trusted only when it runs and says the version
// expected of it; else it is built or uploaded again.
func (j *job) binary(ctx context.Context) error {
	fmt.Sscan(j.facts["pid"], &j.oldPID)
	j.agentVersion = versionOf(j.facts["binary"])
	if j.method == MethodUpload {
		return j.upload(ctx)
	}
	return j.build(ctx)
}

// versionOf returns the version in the answer of `hive-agent version`.
func versionOf(out string) string {
	v, ok := strings.CutPrefix(strings.TrimSpace(out), "hive-agent ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

func (j *job) build(ctx context.Context) error {
	if j.agentVersion == j.commit && j.facts["worker_x"] == "yes" {
		j.say(PhaseBinary, "hive-agent %s already built (it runs and says so)", short(j.commit))
		return nil
	}
	if j.agentVersion != "" && j.agentVersion != j.commit {
		j.say(PhaseBinary, "installed hive-agent says %s, the checkout is at %s", short(j.agentVersion), short(j.commit))
	}
	j.say(PhaseBinary, "🔨 building hive-agent %s on the node", short(j.commit))
	out, err := j.run(ctx, buildScript, j.node.InstallPath, j.commit, tempName())
	if err != nil {
		return withHint("fix the build on that branch (or pick another with `queen setup update-node --git-branch`); "+
			"the agent installed before keeps running", "build failed:\n%s", lastLines(provision.StderrOf(err), 15, err))
	}
	if got := versionOf(lastLine(out)); got != j.commit {
		return withHint(j.reinstallHint(), "the built hive-agent says its version is %q, want %s", got, j.commit)
	}
	j.agentVersion, j.made = j.commit, MethodBuild
	return nil
}

// lastLine returns the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func (j *job) reinstallHint() string {
	return fmt.Sprintf("read the message above, fix the cause on the node and run `queen setup install --node %s` again", j.node.NodeName)
}

// lastLines returns the last n lines of out, or err's text when out is empty.
func lastLines(out []byte, n int, err error) string {
	text := strings.TrimRight(string(out), "\n")
	if text == "" {
		return err.Error()
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func tempName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return ".hive-agent." + hex.EncodeToString(b)
}

// elfMachines maps `uname -m` to the ELF machine of binaries that run there.
var elfMachines = map[string]elf.Machine{
	"x86_64": elf.EM_X86_64, "amd64": elf.EM_X86_64,
	"aarch64": elf.EM_AARCH64, "arm64": elf.EM_AARCH64,
}

// goArch maps `uname -m` to GOARCH, for the hint on a wrong binary.
var goArch = map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

// runs reports whether the probe saw the installed binary name able to
// run: the agent said a version, the worker is executable.
func (j *job) runs(name string) bool {
	if name == "hive-agent" {
		return j.agentVersion != ""
	}
	return j.facts["worker_x"] == "yes"
}

// checkRuns refuses a file that is not executable.
func checkRuns(file string) error {
	info, err := os.Stat(file)
	if err == nil && info.Mode().Perm()&0o111 == 0 {
		err = fmt.Errorf("not executable (mode %v)", info.Mode().Perm())
	}
	return err
}

// sameCommit reports whether two commit names name the same commit: one
// is a prefix of the other, at least 7 hex digits long.
func sameCommit(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return len(a) >= 7 && strings.HasPrefix(b, a)
}

// workerBinary is the prebuilt reference worker: rbee-worker next to the
// prebuilt agent.
func (in *Installer) workerBinary() string {
	return filepath.Join(filepath.Dir(in.AgentBinary), "rbee-worker")
}

// localAgent reads the prebuilt agent and its SHA-256 once per Installer.
func (in *Installer) localAgent() localAgent {
	in.agentOnce.Do(func() { in.agent = readLocal(in.AgentBinary) })
	return in.agent
}

// localWorker reads the prebuilt reference worker once per Installer.
func (in *Installer) localWorker() localAgent {
	in.workerOnce.Do(func() { in.worker = readLocal(in.workerBinary()) })
	return in.worker
}

func readLocal(file string) localAgent {
	data, err := os.ReadFile(file)
	sum := sha256.Sum256(data)
	return localAgent{data: data, sha256: hex.EncodeToString(sum[:]), err: err}
}

// checkArch refuses a prebuilt agent that cannot run on the node.
func (j *job) checkArch(local string) error {
	arch := j.facts["arch"]
	f, err := elf.Open(local)
	if err != nil {
		return withHint("upload needs a Linux build of hive-agent; build one with `GOOS=linux go build -o "+local+" ./hive-agent`",
			"%s is not a Linux executable: %w", local, err)
	}
	defer f.Close()
	if want, ok := elfMachines[arch]; !ok || f.Machine != want || j.facts["os"] != "Linux" {
		return withHint(fmt.Sprintf("build one for the node with `GOOS=linux GOARCH=%s go build -o %s ./hive-agent`, "+
			"or install with `--method build`", orMissing(goArch[arch], arch), local),
			"%s is built for %v, the node is %s/%s", local, f.Machine, j.facts["os"], arch)
	}
	return nil
}
