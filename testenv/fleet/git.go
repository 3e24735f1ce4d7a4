package fleet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Git is the fleet's git server: git daemon (one `git daemon --inetd` per
// connection, see serveGit) serving one bare repository.
type Git struct {
	URL     string   `json:"url"`      // git://ADDR:PORT/rbee.git, what hosts clone
	RepoDir string   `json:"repo_dir"` // the bare repository; tests may push to it
	Daemon  *Process `json:"daemon"`
	// Commit is the snapshot commit branch main points at; SourceHead is
	// the HEAD of the checkout it was taken from. They differ even for a
	// clean tree: the snapshot is a commit of its own.
	Commit     string `json:"commit"`
	SourceHead string `json:"source_head"`
}

// gitIdentity lets commit-tree work on machines with no git identity set.
var gitIdentity = []string{
	"GIT_AUTHOR_NAME=rbee testenv", "GIT_AUTHOR_EMAIL=testenv@rbee.invalid",
	"GIT_COMMITTER_NAME=rbee testenv", "GIT_COMMITTER_EMAIL=testenv@rbee.invalid",
}

func startGit(ctx context.Context, f *Fleet, source string) (*Git, error) {
	base := filepath.Join(f.Dir, "git")
	g := &Git{RepoDir: filepath.Join(base, "rbee.git")}
	var err error
	if g.Commit, g.SourceHead, err = snapshotRepo(ctx, source, g.RepoDir); err != nil {
		return nil, err
	}
	execPath, err := run(ctx, "git", "--exec-path")
	if err != nil {
		return nil, err
	}
	host, port := "127.0.0.1", 0
	if f.Net != nil {
		host, port = f.Net.BridgeIP, 9418
	}
	for attempt := 0; ; attempt++ {
		if f.Mode == Loopback {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		g.Daemon, err = startGitDaemon(ctx, filepath.Join(execPath, "git-daemon"), base, host, port)
		if err == nil || attempt == 3 || f.Mode != Loopback {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	g.URL = fmt.Sprintf("git://%s/rbee.git", net.JoinHostPort(host, strconv.Itoa(port)))
	return g, nil
}

func startGitDaemon(ctx context.Context, bin, base, host string, port int) (*Process, error) {
	argv, err := gitServerArgv(bin, base, host, port)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(base, fmt.Sprintf("git-daemon-%d.log", port))
	p, err := startDaemon(argv, logPath, gitAcceptArg+" "+net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if err := awaitListening(ctx, addr, p, nil); err != nil {
		return nil, fmt.Errorf("git daemon on %s: %w", addr, err)
	}
	return p, nil
}

// snapshotRepo makes a bare repository at dst whose branch main holds the
// working tree of the checkout containing src, and returns that commit and
// the checkout's HEAD. It writes objects only into dst and uses a private
// index, so the source checkout is not touched.
func snapshotRepo(ctx context.Context, src, dst string) (commit, head string, err error) {
	top, err := run(ctx, "git", "-C", src, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", "", fmt.Errorf("find the checkout to serve (%s must be inside a git checkout): %w", src, err)
	}
	head, _ = run(ctx, "git", "-C", top, "rev-parse", "HEAD") // empty in a checkout without commits
	if _, err := run(ctx, "git", "init", "-q", "--bare", "-b", "main", dst); err != nil {
		return "", "", err
	}
	commit, err = snapshotCommit(ctx, top, dst)
	if err != nil {
		return "", "", err
	}
	if _, err = run(ctx, "git", "-C", dst, "update-ref", "refs/heads/main", commit); err != nil {
		return "", "", err
	}
	// A served repository is packed, as a real git server's is: from loose
	// objects the daemon compresses every object again for every clone
	// (0.5 s a clone here instead of 0.2, more with clones in parallel).
	_, err = run(ctx, "git", "-C", dst, "repack", "-a", "-d", "-q")
	return commit, head, err
}

// snapshotCommit writes the working tree of checkout top as a commit into
// the bare repository dst.
func snapshotCommit(ctx context.Context, top, dst string) (string, error) {
	env := append([]string{
		"GIT_INDEX_FILE=" + filepath.Join(dst, "snapshot-index"),
		"GIT_OBJECT_DIRECTORY=" + filepath.Join(dst, "objects"),
		"GIT_ALTERNATE_OBJECT_DIRECTORIES=",
	}, gitIdentity...)
	if _, err := runEnv(ctx, env, top, "git", "add", "-A"); err != nil {
		return "", fmt.Errorf("snapshot %s: %w", top, err)
	}
	defer os.Remove(filepath.Join(dst, "snapshot-index"))
	tree, err := runEnv(ctx, env, top, "git", "write-tree")
	if err != nil {
		return "", err
	}
	return runEnv(ctx, env, top, "git", "commit-tree", tree, "-m", "testenv snapshot of "+top)
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// awaitListening waits until addr accepts TCP connections (and, if banner is
// set, sends a greeting starting with it), or fails early when p exits.
func awaitListening(ctx context.Context, addr string, p *Process, banner []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return Await(ctx, "listen on "+addr, func() (bool, string, error) {
		if !p.Alive() {
			return false, "", fmt.Errorf("process exited; log:\n%s", p.tail(20))
		}
		conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			return false, err.Error(), nil
		}
		defer conn.Close()
		if banner == nil {
			return true, "", nil
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, len(banner))
		if _, err := conn.Read(buf); err != nil {
			return false, "no banner: " + err.Error(), nil
		}
		return string(buf) == string(banner), "banner " + strconv.Quote(string(buf)), nil
	})
}
