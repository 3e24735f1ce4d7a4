package install

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rbee-fleet/rbee/provision"
)

// binary makes sure P/bin/hive-agent is the agent of this install: built
// from the checkout's commit, or the queen's prebuilt one uploaded.
func (j *job) binary(ctx context.Context) error {
	fmt.Sscan(j.facts["pid"], &j.oldPID)
	if j.method == MethodUpload {
		return j.upload(ctx)
	}
	return j.build(ctx, j.facts["binary"])
}

func (j *job) build(ctx context.Context, installed string) error {
	if installed == short(j.commit) {
		j.say(PhaseBinary, "hive-agent %s already built", installed)
		return nil
	}
	j.say(PhaseBinary, "🔨 building hive-agent %s on the node", short(j.commit))
	if _, err := j.run(ctx, buildScript, j.node.InstallPath, short(j.commit), tempName()); err != nil {
		return withHint("fix the build on that branch (or pick another with `queen setup update-node --git-branch`); "+
			"the agent installed before keeps running", "build failed:\n%s", lastLines(provision.StderrOf(err), 15, err))
	}
	j.made = MethodBuild
	return nil
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

func (j *job) upload(ctx context.Context) error {
	for _, bin := range []struct {
		name, fact string
		local      string
		read       func() localAgent
	}{
		{"rbee-worker", "worker_sha256", j.in.workerBinary(), j.in.localWorker},
		{"hive-agent", "binary_sha256", j.in.AgentBinary, j.in.localAgent},
	} {
		prebuilt := bin.read()
		if prebuilt.err != nil {
			return withHint("build it next to the queen with `make build`, or install with `--method build`",
				"read the prebuilt %s %s: %w", bin.name, bin.local, prebuilt.err)
		}
		if err := j.checkArch(bin.local); err != nil {
			return err
		}
		if j.facts[bin.fact] == prebuilt.sha256 {
			j.say(PhaseBinary, "%s already uploaded (sha256 %s)", bin.name, prebuilt.sha256[:12])
			continue
		}
		j.say(PhaseBinary, "⬆️ uploading %s (%d MiB)", bin.local, len(prebuilt.data)>>20)
		if err := j.sendVerified(ctx, bin.name, prebuilt.data, prebuilt.sha256); err != nil {
			return err
		}
		j.made = MethodUpload
	}
	return nil
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

// sendVerified uploads data to a temp file in P/bin, checks its SHA-256 on
// the node, makes it executable and renames it over P/bin/<name>. The temp
// file is removed on every failure.
func (j *job) sendVerified(ctx context.Context, name string, data []byte, want string) (err error) {
	sc, err := j.client.SFTP()
	if err != nil {
		return err
	}
	dir := path.Join(j.node.InstallPath, "bin")
	if err := sc.MkdirAll(dir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp := path.Join(dir, tempName())
	defer func() {
		if err != nil {
			_ = sc.Remove(tmp)
		}
	}()
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return fmt.Errorf("upload to %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("upload to %s: %w", tmp, err)
	}
	got, err := j.remoteSHA256(ctx, tmp)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("uploaded file has sha256 %s, want %s: the transfer was damaged; run install again", got, want)
	}
	if err := sc.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := sc.PosixRename(tmp, path.Join(dir, name)); err != nil {
		return fmt.Errorf("rename %s into place: %w", tmp, err)
	}
	// The build stamp no longer describes the binary: a later build must
	// not take the upload for its own.
	_ = sc.Remove(path.Join(dir, "hive-agent.version"))
	return nil
}

// remoteSHA256 returns the SHA-256 of a file on the node, "" if it is missing.
func (j *job) remoteSHA256(ctx context.Context, file string) (string, error) {
	out, err := j.client.Run(ctx, provision.Command("sha256sum", "--", file))
	if err != nil {
		return "", fmt.Errorf("sha256sum %s: %w", file, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return "", fmt.Errorf("sha256sum %s answered nothing", file)
	}
	return fields[0], nil
}
