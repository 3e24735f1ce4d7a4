package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// adoptedPoll is how often the agent checks that an adopted worker (not its
// child, so it cannot wait for it) still runs.
const adoptedPoll = 100 * time.Millisecond

// proc is one worker process.
type proc struct {
	token     string
	port      int
	pgid      int
	startTick uint64 // /proc/<pid>/stat start time: tells the worker from a reused pid
	logPath   string
	cmd       *exec.Cmd // nil for an adopted worker

	// healthURL is what the health checks GET once the worker is ready.
	healthURL string
	// readyTimeout bounds the wait for readiness of a restart.
	readyTimeout time.Duration
	// restartTimes are the restarts of this worker id within the restart
	// window, oldest first.
	restartTimes []time.Time

	mu       sync.Mutex
	w        api.Worker
	stopping bool
	// killReason says why the agent killed the worker itself (it stayed
	// unhealthy, or a restart was not ready in time); "" when it did not.
	killReason string
	// killedAfterGrace is set when a stop had to SIGKILL the worker: it
	// was still there after the SIGTERM grace.
	killedAfterGrace bool

	ready     chan struct{} // closed when the worker is ready
	readyOnce sync.Once
	// registered is closed once the worker's register was relayed: its
	// ready update must not overtake it.
	registered chan struct{}
	stopped    chan struct{} // closed by terminate: a stop was asked for
	stopOnce   sync.Once
	gone       chan struct{} // closed after exited() ran
	exitCode   int           // valid once gone is closed; -1 when unknown
	termOnce   sync.Once
}

func newProc(w api.Worker, token string, port int, logPath string) *proc {
	return &proc{w: w, token: token, port: port, logPath: logPath, exitCode: -1,
		ready: make(chan struct{}), registered: make(chan struct{}), stopped: make(chan struct{}), gone: make(chan struct{})}
}

// successor returns the proc that restarts p under the same id, port and
// log file at time at: loading, with one restart more. recent are p's
// restarts still within the restart window.
func (p *proc) successor(at time.Time, recent []time.Time) *proc {
	w := p.record()
	w.State, w.PID, w.ExitCode, w.SlotsAvailable = api.WorkerLoading, 0, nil, 0
	w.Restarts++
	w.StartedUnix = at.Unix()
	n := newProc(w, newToken(), p.port, p.logPath)
	n.healthURL, n.readyTimeout = p.healthURL, p.readyTimeout
	n.restartTimes = append(slices.Clone(recent), at)
	return n
}

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// handedOver reports whether the agent, not a waiting spawn, answers for
// the worker's exit: it was ready once, or it is a restart.
func (p *proc) handedOver() bool {
	return isClosed(p.ready) || p.record().Restarts > 0
}

// kill ends the worker's process group with SIGKILL because of reason,
// which its exit then reports. It does nothing to a worker being stopped
// or not started.
func (p *proc) kill(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping || p.pgid <= 0 || isClosed(p.gone) {
		return
	}
	if p.killReason == "" {
		p.killReason = reason
	}
	_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
}

// exitReason says why the worker ended with code, for the log.
func (p *proc) exitReason(code int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.killReason != "":
		return "killed: " + p.killReason
	case code == -1:
		return "exited (exit code unknown: not a child of this agent)"
	default:
		return fmt.Sprintf("exited with code %d", code)
	}
}

func (p *proc) record() api.Worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.w
	if w.ExitCode != nil {
		c := *w.ExitCode
		w.ExitCode = &c
	}
	return w
}

// wasKilledAfterGrace reports whether a stop had to SIGKILL the worker.
func (p *proc) wasKilledAfterGrace() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killedAfterGrace
}

func (p *proc) stopRequested() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// start runs argv in its own process group with the callback token in the
// environment and its output appended to p.logPath.
func (p *proc) start(argv []string) error {
	out, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(withoutToken(os.Environ()), api.WorkerTokenEnv+"="+p.token)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	tick, _ := startTick(cmd.Process.Pid)
	p.mu.Lock() // save reads pgid and startTick while other workers start
	p.pgid, p.startTick = cmd.Process.Pid, tick
	p.w.PID = cmd.Process.Pid
	p.mu.Unlock()
	p.cmd = cmd
	return nil
}

// withoutToken drops a token the agent itself may have inherited.
func withoutToken(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, api.WorkerTokenEnv+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// wait blocks until the process is gone and returns its exit code: the
// child's status, 128+signal when a signal ended it, -1 for an adopted
// worker (not our child).
func (p *proc) wait() int {
	if p.cmd != nil {
		err := p.cmd.Wait()
		if err == nil {
			return 0
		}
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ee.ExitCode()
		}
		return -1
	}
	for p.alive() {
		time.Sleep(adoptedPoll)
	}
	return -1
}

// alive reports whether the worker's process still runs (and is the same
// process, not a reused pid).
func (p *proc) alive() bool {
	tick, err := startTick(p.pgid)
	return err == nil && tick == p.startTick
}

// terminate sends SIGTERM to the worker's process group and SIGKILL after
// grace if it is still there. It returns at once; gone says when it ended.
// A worker not started yet is only marked: its spawn ends it after start.
func (p *proc) terminate(grace time.Duration, log *slog.Logger) {
	p.mu.Lock()
	p.stopping = true
	if p.w.State != api.WorkerFailed {
		p.w.State = api.WorkerStopping
	}
	id, pgid := p.w.ID, p.pgid
	p.mu.Unlock()
	p.stopOnce.Do(func() { close(p.stopped) })
	if pgid <= 0 || isClosed(p.gone) {
		return // kill(0) would signal the agent's own group; a gone group may be another's now
	}
	p.termOnce.Do(func() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		go func() {
			select {
			case <-p.gone:
			case <-time.After(grace):
				log.Warn("worker did not stop after SIGTERM; killing it", "worker", id, "pid", pgid, "grace", grace)
				p.mu.Lock()
				p.killedAfterGrace = true
				p.mu.Unlock()
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
		}()
	})
}

// startTick returns the start time of process pid in clock ticks since
// boot (field 22 of /proc/<pid>/stat); an error means no such process, or a
// zombie, which no longer runs.
func startTick(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, errors.New("malformed stat")
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, errors.New("zombie")
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
