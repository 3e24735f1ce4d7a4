package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
)

// maxStderrInError bounds the stderr that ExitError.Error shows.
const maxStderrInError = 512

// ExitError is a remote command that ran and exited non-zero, or was killed
// by a signal. Branch on Code and read Stderr (or [StderrOf]); never match
// the message.
type ExitError struct {
	Host   string // user@host:port
	Cmd    string // the command as sent
	Code   int    // exit status; 128+n for signal n, as x/crypto reports it
	Signal string // the signal that killed the command ("KILL"), or ""
	Stderr []byte // everything the command wrote to stderr
}

// Error gives the command, host, exit status and the end of stderr.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("run %s on %s: exit status %d", shortCmd(e.Cmd), e.Host, e.Code)
	if e.Signal != "" {
		msg += " (signal " + e.Signal + ")"
	}
	if s := bytes.TrimSpace(e.Stderr); len(s) > 0 {
		if len(s) > maxStderrInError {
			s = append([]byte("…"), s[len(s)-maxStderrInError:]...)
		}
		msg += ": " + string(s)
	}
	return msg
}

// StderrOf returns the full stderr of the [*ExitError] in err's chain, or nil.
func StderrOf(err error) []byte {
	if e, ok := errors.AsType[*ExitError](err); ok {
		return e.Stderr
	}
	return nil
}

// shortCmd quotes cmd for a message, cut to a readable length.
func shortCmd(cmd string) string {
	const max = 120
	if len(cmd) > max {
		cmd = cmd[:max] + "…"
	}
	return fmt.Sprintf("%q", cmd)
}

// Run runs cmd in a new session and returns its stdout. Build cmd with
// [Command] or [Shell]. When ctx is done the command is sent SIGKILL and the
// session closed (OpenSSH does not kill a command without a terminal when its
// session closes unless it honours the signal). A non-zero exit is an
// [*ExitError]; a connection that went away wraps [ErrConnectionLost].
func (c *Client) Run(ctx context.Context, cmd string) ([]byte, error) {
	start := time.Now()
	stdout, err := c.run(ctx, cmd)
	c.log.Debug("ssh run", "cmd", cmd, "exit_code", exitCode(err), "duration", time.Since(start))
	return stdout, err
}

// RunArgs runs name with args, each quoted; see [Command] and [Client.Run].
func (c *Client) RunArgs(ctx context.Context, name string, args ...string) ([]byte, error) {
	return c.Run(ctx, Command(name, args...))
}

func (c *Client) run(ctx context.Context, cmd string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run %s on %s: %w", shortCmd(cmd), c.dest, context.Cause(ctx))
	}
	sess, err := c.conn.NewSession()
	if err != nil {
		return nil, c.sessionError(cmd, err)
	}
	defer sess.Close()
	var outBuf, errBuf bytes.Buffer
	sess.Stdout, sess.Stderr = &outBuf, &errBuf
	if err := sess.Start(cmd); err != nil {
		return nil, c.sessionError(cmd, err)
	}
	stop := context.AfterFunc(ctx, func() {
		_ = sess.Signal(ssh.SIGKILL)
		_ = sess.Close()
	})
	err = sess.Wait()
	if !stop() {
		return outBuf.Bytes(), fmt.Errorf("run %s on %s: %w", shortCmd(cmd), c.dest, context.Cause(ctx))
	}
	return outBuf.Bytes(), c.waitError(cmd, err, errBuf.Bytes())
}

func (c *Client) waitError(cmd string, err error, stderr []byte) error {
	if exitErr, ok := errors.AsType[*ssh.ExitError](err); ok {
		return &ExitError{Host: c.dest.String(), Cmd: cmd, Code: exitErr.ExitStatus(), Signal: exitErr.Signal(), Stderr: stderr}
	}
	if err == nil {
		return nil
	}
	return c.sessionError(cmd, err)
}

// sessionError reports a session that could not start or finish. A server
// refusing the session (too many sessions) is reported as is; anything else
// means the connection is gone.
func (c *Client) sessionError(cmd string, err error) error {
	if _, ok := errors.AsType[*ssh.OpenChannelError](err); ok {
		return fmt.Errorf("run %s on %s: open session: %w", shortCmd(cmd), c.dest, err)
	}
	return fmt.Errorf("run %s on %s: %w: %w", shortCmd(cmd), c.dest, ErrConnectionLost, c.lostCause(err))
}

// lostCause explains a lost connection: the keepalive verdict if there is
// one, else err (io.EOF or a missing exit status).
func (c *Client) lostCause(err error) error {
	if why := c.lostReason(); why != nil {
		return why
	}
	if errors.Is(err, io.EOF) {
		return errors.New("connection closed")
	}
	return err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := errors.AsType[*ExitError](err); ok {
		return e.Code
	}
	return -1
}
