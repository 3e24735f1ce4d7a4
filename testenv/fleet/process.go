package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a daemon started by the fleet, identified by its pid and by a
// string its command line must contain (so a recycled pid is never signalled).
type Process struct {
	Pid   int      `json:"pid"`
	Match string   `json:"match"`
	Log   string   `json:"log"`
	Argv  []string `json:"argv"`

	// exited is closed when a process this program started has exited; it
	// is nil for a process loaded from saved state. It is exact where /proc
	// is not: while a process execs, its cmdline can read empty.
	exited chan struct{}
}

// startDaemon starts argv detached from the caller's session, with stdin from
// /dev/null and stdout and stderr appended to logPath. The returned process
// keeps running when the caller exits; in the caller, a goroutine reaps it.
func startDaemon(argv []string, logPath, match string) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &Process{Pid: cmd.Process.Pid, Match: match, Log: logPath, Argv: argv, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // reaps the child; its log tells why it exited
		close(p.exited)
	}()
	return p, nil
}

// Alive reports whether the process still runs the command line it was
// started with. A zombie counts as gone.
func (p *Process) Alive() bool {
	if p == nil {
		return false
	}
	if p.exited != nil {
		select {
		case <-p.exited:
			return false
		default:
			return true
		}
	}
	if !running(p.Pid) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/cmdline")
	if err != nil {
		return false
	}
	return strings.Contains(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})), p.Match)
}

// running reports whether pid exists and is not a zombie, whatever it runs.
func running(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// Stop ends the process: SIGTERM, up to grace for it to exit, then SIGKILL.
// Stopping a process that is already gone is not an error.
func (p *Process) Stop(grace time.Duration) error {
	if !p.Alive() {
		return nil
	}
	_ = syscall.Kill(p.Pid, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if p.awaitExit(ctx) == nil {
		return nil
	}
	_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := p.awaitExit(ctx2); err != nil {
		return fmt.Errorf("pid %d (%s) survived SIGKILL: %w", p.Pid, p.Match, err)
	}
	return nil
}

func (p *Process) awaitExit(ctx context.Context) error {
	return Await(ctx, fmt.Sprintf("exit of pid %d", p.Pid), func() (bool, string, error) {
		return !p.Alive(), "still running", nil
	})
}

// tail returns the last n lines of the process log, for error messages.
func (p *Process) tail(n int) string {
	return tailFile(p.Log, n)
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Await polls check with a growing delay (10 ms up to 500 ms) until it
// reports done, returns an error, or ctx ends. On timeout the error carries
// the last state check reported, so a failure says what was seen.
func Await(ctx context.Context, what string, check func() (done bool, state string, err error)) error {
	delay := 10 * time.Millisecond
	for {
		done, state, err := check()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last state: %s)", what, ctx.Err(), state)
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 500*time.Millisecond)
	}
}

// run executes a command and returns its trimmed stdout, or an error that
// carries the command and its combined output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	return runEnv(ctx, nil, "", name, args...)
}

func runEnv(ctx context.Context, env []string, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String() + stdout.String())
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return "", fmt.Errorf("%s %s: exit %d: %s", name, strings.Join(args, " "), exitErr.ExitCode(), msg)
		}
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(stdout.String()), nil
}
