// Command rbee-worker is the reference inference worker of an rbee fleet. It
// follows the worker contract (README: Workers) exactly, but serves no model: its
// completions are deterministic words made from the prompt and the worker id.
// The hive agent's tests and the demo fleet run it where a real backend such
// as llama.cpp's llama-server would run.
//
// # Contract
//
// The agent starts it as
//
//	rbee-worker --worker-id ID --model-ref REF --backend cpu --device 0 \
//	    --port 8081 --callback-url http://127.0.0.1:7834/v1/workers/ready
//
// with the per-worker token in RBEE_WORKER_TOKEN. The worker binds
// --host:--port first (exit 1 if it is taken, so the agent can try the next
// port), then "loads the model", then POSTs an [api.ReadyCallback] to
// --callback-url with "Authorization: Bearer <token>", reporting its URL as
// http://<--advertise-host>:<port>. An empty --callback-url skips the call.
// The token is never logged.
//
// Routes:
//
//	GET  /health          200 {"status":"ok","state":"idle"|"busy",
//	                      "slots_total":N,"slots_available":M} when ready (M
//	                      counts the slots no completion holds; the agent's
//	                      health check reads them), 503 {"status":"loading",
//	                      "state":"loading",…} before
//	POST /v1/completions  OpenAI-style text completion; 503 while loading or
//	                      when every slot is taken (no queue); 400 on bad JSON
//	POST /v1/chat/completions
//	                      OpenAI-style chat completion of the messages' text,
//	                      with the same words and errors
//
// With "stream": true both answer as server-sent events: a chunk per word
// ("text" of " word" for completions, a "delta" for chat, the first with
// role "assistant"), a last chunk with finish_reason and usage, then
// "data: [DONE]". A client that goes away ends the stream and frees its
// slot.
//
// SIGTERM or SIGINT shuts the HTTP server down (at most 5 s for open
// requests) and exits 0.
//
// # Test and fault knobs
//
// Each knob is a flag and an environment variable, so a backend template in
// the agent config need not change to use one:
//
//	--load-delay D        RBEE_WORKER_LOAD_DELAY=D        wait D (e.g. 2s) before ready, like a model load
//	--never-ready         RBEE_WORKER_NEVER_READY=1       bind and serve /health (503 loading), never call back
//	--crash-after D       RBEE_WORKER_CRASH_AFTER=D       exit 3 with a message on stderr D after start
//	--completion-delay D  RBEE_WORKER_COMPLETION_DELAY=D  hold each completion and its slot D before answering
//	--token-delay D       RBEE_WORKER_TOKEN_DELAY=D       wait D between the words of a streamed answer
//	--ignore-sigterm      RBEE_WORKER_IGNORE_SIGTERM=1    log SIGTERM/SIGINT and keep running; only SIGKILL ends it
//	--vram-bytes N        RBEE_WORKER_VRAM_BYTES=N        VRAM reported in the ready callback (default 0)
//
// # Exit codes
//
//	0  stopped by SIGTERM or SIGINT
//	1  could not bind the port, the callback was refused (4xx) or kept
//	   failing, or the HTTP server failed; stderr says which
//	2  bad command line
//	3  crashed on purpose (--crash-after)
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/version"
)

// Exit codes; see the package doc.
const (
	exitFailure = 1
	exitUsage   = 2
	exitCrash   = 3
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run parses args, runs the worker until it stops and returns the exit code.
// Errors are one line on stderr: what failed, then the next step.
func run(args []string) int {
	var c cli
	parser, err := kong.New(&c, kong.Name("rbee-worker"),
		kong.Description("rbee reference worker: the worker contract with a deterministic fake model."),
		kong.Vars{"version": "rbee-worker " + version.String()})
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbee-worker: build the command line: %v; this is a bug, report it\n", err)
		return exitFailure
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbee-worker: %v; run `rbee-worker --help`\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With(keyWorker, c.WorkerID)
	err = kctx.Run(log)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errCrash):
		fmt.Fprintf(os.Stderr, "rbee-worker: %v\n", err)
		return exitCrash
	default:
		fmt.Fprintf(os.Stderr, "rbee-worker: %v\n", err)
		return exitFailure
	}
}
