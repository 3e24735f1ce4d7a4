package install

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/pkg/sftp"
	"github.com/rbee-fleet/rbee/shared/api"
	"golang.org/x/sync/errgroup"
)

// uploadConcurrency is how many SFTP writes of one file are in flight at
// once: a sequential write waits a round trip per 32 KiB packet, and more
// writers than this only queue on the connection's lock.
const uploadConcurrency = 16

// prebuilt is one binary upload sends: its name in P/bin, the fact of the
// probe that holds the installed one's SHA-256, and the local file.
type prebuilt struct {
	name, fact string
	local      string
	read       func() localAgent
}

// sending is a binary on its way to the node: written to tmp in P/bin,
// placed as name once its SHA-256 on the node is sha256.
type sending struct {
	name, tmp, sha256 string
	data              []byte
}

// upload sends the prebuilt binaries the node does not have (the worker
// first, then the agent), all at once, and checks what it sent: each file's
// SHA-256 on the node, then the agent's answer to `hive-agent version`.
func (j *job) upload(ctx context.Context) error {
	var sends []sending
	for _, bin := range []prebuilt{
		{"rbee-worker", "worker_sha256", j.in.workerBinary(), j.in.localWorker},
		{"hive-agent", "binary_sha256", j.in.AgentBinary, j.in.localAgent},
	} {
		s, err := j.toSend(bin)
		if err != nil {
			return err
		}
		if s != nil {
			sends = append(sends, *s)
		}
	}
	if len(sends) > 0 {
		if err := j.sendVerified(ctx, sends); err != nil {
			return err
		}
		j.made = MethodUpload
	}
	return j.checkUploaded()
}

// toSend checks the prebuilt binary bin and returns it to send, or nil
// when the node has it already (same SHA-256, and it runs).
func (j *job) toSend(bin prebuilt) (*sending, error) {
	local := bin.read()
	if local.err == nil {
		local.err = checkRuns(bin.local)
	}
	if local.err != nil {
		return nil, withHint("build it next to the queen with `make build`, or install with `--method build`",
			"read the prebuilt %s %s: %w", bin.name, bin.local, local.err)
	}
	if err := j.checkArch(bin.local); err != nil {
		return nil, err
	}
	if j.facts[bin.fact] == local.sha256 && j.runs(bin.name) {
		j.say(PhaseBinary, "%s already uploaded (sha256 %s)", bin.name, local.sha256[:12])
		return nil, nil
	}
	j.say(PhaseBinary, "⬆️ uploading %s (%d MiB)", bin.local, len(local.data)>>20)
	return &sending{name: bin.name, tmp: tempName(), sha256: local.sha256, data: local.data}, nil
}

// sendVerified writes every binary of sends to its temp file in P/bin
// (in parallel, over the connection's one SFTP session), then one session
// on the node checks their SHA-256, makes them executable, renames them
// over P/bin/<name> and runs the new agent's `hive-agent version`. A temp
// file is removed on every failure.
func (j *job) sendVerified(ctx context.Context, sends []sending) (err error) {
	sc, err := j.client.SFTP()
	if err != nil {
		return err
	}
	dir := path.Join(j.node.InstallPath, "bin")
	if err := sc.MkdirAll(dir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			removeTemps(sc, dir, sends)
		}
	}()
	var g errgroup.Group
	for _, s := range sends {
		g.Go(func() error { return writeTemp(sc, path.Join(dir, s.tmp), s.data) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return j.place(ctx, sends)
}

// writeTemp writes data to the new file tmp, executable, with concurrent
// SFTP writes.
func writeTemp(sc *sftp.Client, tmp string, data []byte) error {
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if err := f.Chmod(0o755); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.ReadFromWithConcurrency(bytes.NewReader(data), uploadConcurrency); err != nil {
		f.Close()
		return fmt.Errorf("upload to %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("upload to %s: %w", tmp, err)
	}
	return nil
}

// removeTemps removes the temp files of sends that are left in dir, as
// far as the connection lets it.
func removeTemps(sc *sftp.Client, dir string, sends []sending) {
	for _, s := range sends {
		_ = sc.Remove(path.Join(dir, s.tmp))
	}
}

// place runs placeScript on the sent temp files and notes what the new
// agent says its version is; a file whose SHA-256 on the node is not the
// one sent is a damaged transfer.
func (j *job) place(ctx context.Context, sends []sending) error {
	args := []string{j.node.InstallPath}
	for _, s := range sends {
		args = append(args, s.tmp+":"+s.name+":"+s.sha256)
	}
	out, err := j.run(ctx, placeScript, args...)
	if err != nil {
		return fmt.Errorf("place the uploaded binaries: %w", err)
	}
	kv := keyValues(out)
	if bad := kv["bad"]; bad != "" {
		for _, s := range sends {
			if s.tmp == bad {
				return fmt.Errorf("uploaded file has sha256 %s, want %s: the transfer was damaged; run install again", kv["got"], s.sha256)
			}
		}
		return fmt.Errorf("uploaded file %s is damaged; run install again", bad)
	}
	j.placedVersion = kv["version"]
	return nil
}

// checkUploaded records the version the uploaded agent said when it was
// run on the node, and warns when that is not the checkout's commit.
func (j *job) checkUploaded() error {
	if j.made == MethodUpload {
		if j.agentVersion = versionOf(j.placedVersion); j.agentVersion == "" {
			return withHint(j.reinstallHint(), "the uploaded hive-agent does not run on the node (%q)", strings.TrimSpace(j.placedVersion))
		}
	}
	if !sameCommit(j.agentVersion, j.commit) {
		j.report(api.LevelWarn, PhaseBinary, fmt.Sprintf("⚠️ the uploaded hive-agent is %s, the checkout of %s is at %s; the queen records the binary's version",
			j.agentVersion, j.node.GitBranch, short(j.commit)), 0)
	}
	return nil
}
