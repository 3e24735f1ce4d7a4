// Command testenv starts and stops a test fleet of real OpenSSH hosts for the
// demo and for manual runs (the Go tests use package fleet directly).
//
//	go run ./testenv up [--hosts 3] [--mode loopback|netns] [--state-dir .testenv]
//	go run ./testenv status
//	go run ./testenv run host-1 -- 'id -un'
//	go run ./testenv down
//	go run ./testenv reap
//
// up keeps the fleet's state in --state-dir/fleet.json, so down ends exactly
// what up started (by pid, never by process name) and removes what it made.
// A fleet from up is detached from the up process (fleet.Fleet.Detach): it
// lives until down. Neither `testenv reap` nor the reaping every test's
// fleet.New does touches it; they remove only test fleets whose test
// process died.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/crypto/ssh"

	"github.com/rbee-fleet/rbee/testenv/fleet"
)

type cli struct {
	StateDir string    `help:"Folder that keeps the running fleet's state." default:".testenv" type:"path"`
	Up       upCmd     `cmd:"" help:"Start a fleet and print the add-node flags of each host."`
	Status   statusCmd `cmd:"" help:"Show the hosts of the running fleet and whether they answer."`
	Down     downCmd   `cmd:"" help:"Stop everything the fleet started and remove what it made."`
	Run      runCmd    `cmd:"" help:"Run a shell command on a host over SSH, checking its pinned host key."`
	Reap     reapCmd   `cmd:"" help:"Remove test fleets whose test process died (killed, timed out); fleets of up are kept until down."`
}

type reapCmd struct{}

func (reapCmd) Run() error {
	reaped, err := fleet.ReapStale()
	fmt.Printf("removed %d stale fleet(s) %v\n", len(reaped), reaped)
	return err
}

type runCmd struct {
	Host    string   `arg:"" help:"Host name, e.g. host-1."`
	Command []string `arg:"" help:"Command to run (passed to the host's shell)." passthrough:""`
}

type upCmd struct {
	Hosts  int    `help:"Number of hosts." default:"3"`
	Mode   string `help:"loopback (any user) or netns (root)." enum:"loopback,netns" default:"loopback"`
	Prefix string `help:"Host name prefix." default:"host"`
	Source string `help:"Checkout to serve from the fleet's git server." default:"." type:"path"`
}

type statusCmd struct{}

type downCmd struct{}

func main() {
	var c cli
	kctx := kong.Parse(&c, kong.Name("testenv"),
		kong.Description("A test fleet of real OpenSSH hosts for rbee."))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.FatalIfErrorf(kctx.Run(&c))
}

func statePath(c *cli) string { return filepath.Join(c.StateDir, "fleet.json") }

func (u *upCmd) Run(ctx context.Context, c *cli) error {
	if _, err := os.Stat(statePath(c)); err == nil {
		return fmt.Errorf("a fleet is already up (state in %s): run `go run ./testenv down` first", statePath(c))
	}
	f, err := fleet.Start(ctx, fleet.Options{Mode: fleet.Mode(u.Mode), Hosts: u.Hosts, Prefix: u.Prefix, Source: u.Source})
	if err != nil {
		return err
	}
	// Kept until `testenv down`, whatever happens to this process: the
	// fleet folder's own state must say so too, since that is what every
	// test's fleet.New reads to reap fleets whose owner died.
	if err := f.Detach(); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := save(c, f); err != nil {
		return errors.Join(err, f.Close())
	}
	fmt.Printf("fleet %s is up (%s mode, %d hosts, files in %s)\n", f.ID, f.Mode, len(f.Hosts), f.Dir)
	fmt.Printf("git server: %s\n", f.Git.URL)
	fmt.Printf("it serves branch main at commit %s: a snapshot of the working tree (HEAD %s plus any local changes),\n"+
		"so install reports that commit, which `git log` does not know\n\n", f.Git.Commit, orNone(f.Git.SourceHead))
	for _, h := range f.Hosts {
		key, err := h.PublicKey()
		if err != nil {
			return err
		}
		fmt.Printf("# %s: host key %s\n", h.Name, ssh.FingerprintSHA256(key))
		fmt.Printf("queen setup add-node %s\n\n", strings.Join(f.AddNodeFlags(h), " "))
	}
	fmt.Printf("stop it with: go run ./testenv down --state-dir %s\n", c.StateDir)
	return nil
}

func (statusCmd) Run(c *cli) error {
	f, err := load(c)
	if err != nil {
		return err
	}
	fmt.Printf("fleet %s (%s mode), git server %s (daemon %s)\n", f.ID, f.Mode, f.Git.URL, liveness(f.Git.Daemon))
	for _, h := range f.Hosts {
		fmt.Printf("%-10s %-21s user %-12s sshd %-14s %s\n", h.Name, h.Address(), h.User, liveness(h.SSHD), answers(h))
	}
	return nil
}

func (downCmd) Run(c *cli) error {
	f, err := load(c)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("stop fleet %s: %w (state kept in %s; fix the cause and run down again)", f.ID, err, statePath(c))
	}
	if err := os.Remove(statePath(c)); err != nil {
		return err
	}
	fmt.Printf("fleet %s is down\n", f.ID)
	return nil
}

func (r *runCmd) Run(ctx context.Context, c *cli) error {
	f, err := load(c)
	if err != nil {
		return err
	}
	h := f.Host(r.Host)
	if h == nil {
		return fmt.Errorf("no host %q in fleet %s: see `go run ./testenv status`", r.Host, f.ID)
	}
	cfg, err := f.ClientConfig(h, 10*time.Second)
	if err != nil {
		return err
	}
	client, err := ssh.Dial("tcp", h.Address(), cfg)
	if err != nil {
		return fmt.Errorf("ssh to %s: %w", h.Name, err)
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return err
	}
	defer session.Close()
	session.Stdout, session.Stderr = os.Stdout, os.Stderr
	go func() {
		<-ctx.Done()
		session.Close()
	}()
	cmd := r.Command
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	return session.Run(strings.Join(cmd, " "))
}

func save(c *cli, f *fleet.Fleet) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.StateDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(statePath(c), data, 0o600)
}

func load(c *cli) (*fleet.Fleet, error) {
	data, err := os.ReadFile(statePath(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no fleet is up (no %s): start one with `go run ./testenv up`", statePath(c))
	}
	if err != nil {
		return nil, err
	}
	var f fleet.Fleet
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("read %s: %w", statePath(c), err)
	}
	return &f, nil
}

func liveness(p *fleet.Process) string {
	if p.Alive() {
		return fmt.Sprintf("pid %d", p.Pid)
	}
	return "not running"
}

func answers(h *fleet.Host) string {
	conn, err := net.DialTimeout("tcp", h.Address(), time.Second)
	if err != nil {
		return "unreachable: " + err.Error()
	}
	conn.Close()
	if h.Cut {
		return "answers (marked cut)"
	}
	return "answers"
}

// orNone returns s, or "(none)" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
