package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/api"
)

// threeNodeReport is an install of three nodes: one installed, one failed in
// its build, one up to date.
var threeNodeReport = api.InstallReport{Results: []api.InstallResult{
	{Node: "gpu-1", Result: api.ResultInstalled, Commit: "3f2a9c1d4e5b", Method: "build", AgentPID: 4242, DurationMS: 12300},
	{Node: "gpu-2", Result: api.ResultFailed, DurationMS: 4100, Phase: "build", Error: &api.ErrorDetail{
		Code:    api.CodeSSHCommandFailed,
		Message: "go build ./hive-agent: exit status 1\n./main.go:12:2: undefined: foo\n",
		Hint:    "fix the build on branch main, or install with `--method upload`"}},
	{Node: "gpu-3", Result: api.ResultUpToDate, Commit: "3f2a9c1d4e5b", DurationMS: 850},
}}

// installEvents returns the stream of an install ending with report.
func installEvents(t *testing.T, report api.InstallReport) []api.Event {
	return []api.Event{
		{Level: api.LevelInfo, Node: "gpu-1", Phase: "connect", Message: "connected to 10.0.0.7:22", ElapsedMS: 120},
		{Level: api.LevelInfo, Node: "gpu-3", Phase: "probe", Message: "commit 3f2a9c1d4e5b already installed and running"},
		{Level: api.LevelError, Node: "gpu-2", Phase: "build", Message: "❌ go build failed", ElapsedMS: 4100},
		{Level: api.LevelInfo, Node: "gpu-1", Phase: "wait for heartbeat", Message: "first heartbeat arrived", ElapsedMS: 2300},
		doneEvent(t, "", "install done", report),
	}
}

func TestInstallPrintsEventsAndResultTable(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerEvents(t, w, installEvents(t, threeNodeReport)...)
	})
	res := runQueen(t, q.args("setup", "install", "--node", "gpu-1", "--node", "gpu-2", "--node", "gpu-3", "--node", "gpu-1")...)

	req := q.last(t)
	if req.method != http.MethodPost || req.path != "/v1/install" {
		t.Errorf("request = %s %s, want POST /v1/install", req.method, req.path)
	}
	if got, want := strings.TrimSpace(string(req.body)), `{"nodes":["gpu-1","gpu-2","gpu-3"],"method":"auto","parallel":16}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	wantOut := "[gpu-1] connected to 10.0.0.7:22 (120ms)\n" +
		"[gpu-3] commit 3f2a9c1d4e5b already installed and running\n" +
		"[gpu-1] first heartbeat arrived (2.3s)\n" +
		"[queen] install done\n" +
		"\n" +
		"NODE   RESULT      COMMIT        METHOD  TIME\n" +
		"gpu-1  installed   3f2a9c1d4e5b  build   12.3s\n" +
		"gpu-2  failed      -             -       4.1s\n" +
		"gpu-3  up to date  3f2a9c1d4e5b  -       850ms\n" +
		"\n" +
		"❌ gpu-2 failed at build: go build ./hive-agent: exit status 1\n" +
		"   ./main.go:12:2: undefined: foo\n" +
		"   hint: fix the build on branch main, or install with `--method upload`\n" +
		"\n" +
		"1 installed, 1 up to date, 1 failed\n"
	if res.stdout != wantOut {
		t.Errorf("stdout\n%s\nwant\n%s", res.stdout, wantOut)
	}
	if want := "[gpu-2] ❌ go build failed (4.1s)\n"; res.stderr != want {
		t.Errorf("stderr = %q, want %q", res.stderr, want)
	}
	if res.err == nil || res.err.Error() != "install failed on 1 of 3 nodes: gpu-2" || !errors.Is(res.err, errInstallFailed) {
		t.Fatalf("err = %v, want install failed on 1 of 3 nodes: gpu-2", res.err)
	}
	if h, want := hintOf(res.err), "fix the cause shown above and run the same command again; nodes that are up to date are skipped"; h != want {
		t.Errorf("hint = %q, want %q", h, want)
	}
}

func TestInstallAllSendsAllAndParallel(t *testing.T) {
	report := api.InstallReport{Results: []api.InstallResult{
		{Node: "gpu-1", Result: api.ResultInstalled, Commit: "3f2a9c1d4e5b", Method: "upload", DurationMS: 7000},
		{Node: "gpu-2", Result: api.ResultUpToDate, Commit: "3f2a9c1d4e5b", DurationMS: 400},
	}}
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerEvents(t, w, doneEvent(t, "", "install done", report))
	})
	res := runQueen(t, q.args("setup", "install", "--all", "--parallel", "4", "--method", "upload")...)
	if res.err != nil {
		t.Fatalf("install --all: %v", res.err)
	}
	if got, want := strings.TrimSpace(string(q.last(t).body)), `{"all":true,"method":"upload","parallel":4}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if !strings.HasSuffix(res.stdout, "\n1 installed, 1 up to date, 0 failed\n") {
		t.Errorf("stdout does not end with the summary:\n%s", res.stdout)
	}
}

func TestInstallUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "neither --node nor --all", args: []string{"setup", "install"},
			wantErr: "pass one of --node NAME and --all: the nodes to install, or every registered node"},
		{name: "both --node and --all", args: []string{"setup", "install", "--node", "gpu-1", "--all"},
			wantErr: "--node and --all can't be used together: pass one of them"},
		{name: "unknown method", args: []string{"setup", "install", "--all", "--method", "scp"},
			wantErr: `--method must be one of "build","upload","auto" but got "scp"`},
		{name: "no parallelism", args: []string{"setup", "install", "--all", "--parallel", "0"},
			wantErr: "--parallel must be at least 1, not 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {})
			res := runQueen(t, q.args(tt.args...)...)
			if res.err == nil || !strings.Contains(res.err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", res.err, tt.wantErr)
			}
			// main exits with the code kong gives usage errors.
			if pe, ok := errors.AsType[*kong.ParseError](res.err); !ok || pe.ExitCode() != 80 {
				t.Errorf("err = %#v, want a kong usage error (exit code 80)", res.err)
			}
			if q.count() != 0 {
				t.Errorf("%d requests reached the queen, want 0", q.count())
			}
		})
	}
}

func TestInstallBadNodeNameSendsNothing(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {})
	res := runQueen(t, q.args("setup", "install", "--node", "gpu-1", "--node", "../etc")...)
	if res.err == nil || !strings.HasPrefix(res.err.Error(), "check --node: invalid") {
		t.Fatalf("err = %v, want check --node: invalid…", res.err)
	}
	if q.count() != 0 {
		t.Errorf("%d requests reached the queen, want 0", q.count())
	}
}

func TestInstallJSONPassesEventsThrough(t *testing.T) {
	var stream bytes.Buffer
	for _, ev := range installEvents(t, threeNodeReport) {
		line, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		stream.Write(append(line, '\n'))
	}
	// A field this CLI does not know passes through too.
	raw := strings.Replace(stream.String(), `"phase":"connect"`, `"phase":"connect","future_field":[1,2]`, 1)
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.ContentTypeNDJSON)
		_, _ = w.Write([]byte(raw))
	})
	res := runQueen(t, q.args("--json", "setup", "install", "--all")...)
	if res.stdout != raw {
		t.Errorf("stdout\n%s\nwant\n%s", res.stdout, raw)
	}
	if res.stderr != "" {
		t.Errorf("stderr = %q, want it empty", res.stderr)
	}
	if res.err == nil || res.err.Error() != "install failed on 1 of 3 nodes: gpu-2" {
		t.Errorf("err = %v, want install failed on 1 of 3 nodes: gpu-2", res.err)
	}
}

func TestInstallCancelled(t *testing.T) {
	for _, jsonMode := range []bool{false, true} {
		name := "human"
		if jsonMode {
			name = "json"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				answerEvents(t, w, api.Event{Level: api.LevelInfo, Node: "gpu-1", Phase: "fetch source", Message: "cloning https://git.example.org/rbee.git"})
				<-r.Context().Done()
			})
			args := []string{"setup", "install", "--node", "gpu-1"}
			if jsonMode {
				args = append([]string{"--json"}, args...)
			}
			// Ctrl-C once the first event is out, while the install runs.
			stdout := &cancellingBuffer{cancel: cancel}
			res := runQueenContext(t, ctx, stdout, q.args(args...)...)
			if res.err == nil || res.err.Error() != "install cancelled" || !errors.Is(res.err, context.Canceled) {
				t.Fatalf("err = %v, want install cancelled wrapping context.Canceled", res.err)
			}
			if h := hintOf(res.err); !strings.Contains(h, "run the same command again") {
				t.Errorf("hint = %q", h)
			}
			want := "[gpu-1] cloning https://git.example.org/rbee.git\n[queen] install cancelled\n"
			if jsonMode {
				want = `{"time_unix_ms":0,"level":"info","node":"gpu-1","phase":"fetch source","message":"cloning https://git.example.org/rbee.git"}` + "\n"
			}
			if res.stdout != want {
				t.Errorf("stdout = %q, want %q", res.stdout, want)
			}
		})
	}
}

func TestInstallOfUnknownNode(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: `hive not found: "gpu-9"`})
	})
	tests := []struct {
		name, wantErr string
		nodes         []string
	}{
		{name: "one node", nodes: []string{"gpu-9"}, wantErr: `node "gpu-9" not found`},
		{name: "several nodes", nodes: []string{"gpu-1", "gpu-9"}, wantErr: `hive not found: "gpu-9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"setup", "install"}
			for _, n := range tt.nodes {
				args = append(args, "--node", n)
			}
			res := runQueen(t, q.args(args...)...)
			if res.err == nil || res.err.Error() != tt.wantErr || !errors.Is(res.err, errNodeNotFound) {
				t.Fatalf("err = %v, want %q", res.err, tt.wantErr)
			}
			if h := hintOf(res.err); h != "list the registered nodes with `queen setup list-nodes`" {
				t.Errorf("hint = %q", h)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want it empty", res.stdout)
			}
		})
	}
}

func TestInstallRequestErrorsPassThrough(t *testing.T) {
	detail := api.ErrorDetail{Code: api.CodeInvalidField, Message: `invalid method "scp": must be build, upload or auto`,
		Hint: "pass --method build, upload or auto"}
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		answerError(w, http.StatusBadRequest, detail)
	})
	res := runQueen(t, q.args("setup", "install", "--all")...)
	if res.err == nil || res.err.Error() != detail.Message || hintOf(res.err) != detail.Hint {
		t.Fatalf("err = %v (hint %q), want %q (hint %q)", res.err, hintOf(res.err), detail.Message, detail.Hint)
	}
}

// runQueenContext is runQueen with ctx bound as the command's context, as
// main binds the one that Ctrl-C cancels, and stdout written to stdout.
func runQueenContext(t *testing.T, ctx context.Context, stdout *cancellingBuffer, args ...string) cliResult {
	t.Helper()
	var c cli
	var stderr bytes.Buffer
	parser, err := kong.New(&c, kong.Name("queen"), kong.Writers(stdout, &stderr),
		kong.Exit(func(code int) { t.Fatalf("kong exited with %d: %s", code, stderr.String()) }))
	if err != nil {
		t.Fatalf("kong.New: %v", err)
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		return cliResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(&c.Globals)
	err = kctx.Run()
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// cancellingBuffer is a buffer that calls cancel after every write.
type cancellingBuffer struct {
	bytes.Buffer
	cancel context.CancelFunc
}

// Write appends p and calls cancel.
func (b *cancellingBuffer) Write(p []byte) (int, error) {
	n, err := b.Buffer.Write(p)
	b.cancel()
	return n, err
}
