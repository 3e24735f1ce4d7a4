package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/gobuild"
)

// TestWorkersSpawnBinary runs the queen binary as a user does, against a
// fake queen: what it prints where, its exit code, and Ctrl-C.
func TestWorkersSpawnBinary(t *testing.T) {
	bin := filepath.Join(gobuild.Binaries(t, "", "."), "queen")
	spawn := []string{"workers", "spawn", "--node", "gpu-1", "--model", tinyLlama, "--backend", "cuda", "--device", "5"}
	progress := "[queen] spawning " + tinyLlama + " on gpu-1 (backend cuda, device 5) …\n"

	t.Run("the queen's error and hint", func(t *testing.T) {
		q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
			answerError(w, http.StatusUnprocessableEntity, api.ErrorDetail{Code: api.CodeDeviceUnavailable,
				Message: "device 5 not available on gpu-1; available: [0, 1]", Hint: "try --device 0 or --device 1"})
		})
		stdout, stderr, code := runBinary(t, exec.Command(bin, q.args(spawn...)...))
		wantErr := "queen: device 5 not available on gpu-1; available: [0, 1]\nhint: try --device 0 or --device 1\n"
		if code != 1 || stdout != progress || stderr != wantErr {
			t.Errorf("exit %d\nstdout %q\nstderr %q\nwant exit 1\nstdout %q\nstderr %q", code, stdout, stderr, progress, wantErr)
		}
	})

	t.Run("a bad flag fails before any request", func(t *testing.T) {
		q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {})
		stdout, stderr, code := runBinary(t, exec.Command(bin, q.args("workers", "list", "--state", "sleeping")...))
		wantErr := "queen: check --state: invalid state \"sleeping\": must be one of loading, idle, busy, unhealthy, stopping, failed\n" +
			"hint: fix --state and run the command again\n"
		if code != 1 || stdout != "" || stderr != wantErr || q.count() != 0 {
			t.Errorf("exit %d, %d requests\nstdout %q\nstderr %q\nwant exit 1, no request\nstderr %q", code, q.count(), stdout, stderr, wantErr)
		}
	})

	t.Run("Ctrl-C cancels the request", func(t *testing.T) {
		arrived, ended := make(chan struct{}), make(chan bool, 1)
		q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			select {
			case <-r.Context().Done():
				ended <- true
			case <-time.After(20 * time.Second):
				ended <- false
			}
		})
		cmd := exec.Command(bin, q.args(spawn...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		select {
		case <-arrived:
		case <-time.After(20 * time.Second):
			t.Fatalf("the spawn did not reach the queen; stderr %q", stderr.String())
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		code := exitCode(t, cmd.Wait())
		wantOut := progress + "[queen] spawn cancelled\n"
		wantErr := "queen: spawn cancelled\nhint: see whether a worker was started with `queen workers list --node gpu-1`\n"
		if code != 1 || stdout.String() != wantOut || stderr.String() != wantErr {
			t.Errorf("exit %d\nstdout %q\nstderr %q\nwant exit 1\nstdout %q\nstderr %q", code, stdout.String(), stderr.String(), wantOut, wantErr)
		}
		if !<-ended {
			t.Error("the queen's request did not end after Ctrl-C")
		}
	})
}

// runBinary runs cmd and returns its output and exit code.
func runBinary(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	code = exitCode(t, cmd.Run())
	return out.String(), errOut.String(), code
}

// exitCode returns the exit code of a finished command.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	if exitErr, ok := errors.AsType[*exec.ExitError](err); ok {
		return exitErr.ExitCode()
	}
	if err != nil {
		t.Fatalf("run queen: %v", err)
	}
	return 0
}
