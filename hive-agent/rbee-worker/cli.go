package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Log attribute keys, the same on every line.
const (
	keyWorker   = "worker"
	keyAddr     = "addr"
	keyURL      = "url"
	keySignal   = "signal"
	keyDuration = "duration"
	keyAttempt  = "attempt"
	keyStatus   = "status"
	keyErr      = "err"
)

// Limits of the flags that shared/api does not already check.
const (
	maxDevice = 255
	maxSlots  = 4096
)

// cli is the whole command line: rbee-worker has no subcommands.
type cli struct {
	Version kong.VersionFlag `help:"Print the version and exit."`

	WorkerID      string `name:"worker-id" required:"" placeholder:"ID" help:"Worker id given by the agent, e.g. w-3f2a."`
	ModelRef      string `name:"model-ref" required:"" placeholder:"REF" help:"Model reference, reported back as is, e.g. hf:TheBloke/TinyLlama-GGUF."`
	Backend       string `required:"" placeholder:"NAME" help:"Backend name, e.g. cpu or cuda."`
	Device        int    `required:"" placeholder:"N" help:"Device index within the backend (0 for cpu)."`
	Port          int    `required:"" placeholder:"PORT" help:"TCP port to serve on; 0 picks a free one (reported in the callback)."`
	CallbackURL   string `name:"callback-url" placeholder:"URL" help:"URL to POST the ready callback to; empty means no callback."`
	Host          string `default:"0.0.0.0" placeholder:"ADDR" help:"Address to bind (default ${default})."`
	AdvertiseHost string `name:"advertise-host" default:"127.0.0.1" placeholder:"HOST" help:"Host of the URL reported in the callback (default ${default})."`
	Slots         int    `default:"1" placeholder:"N" help:"Completions served at once; a request beyond them gets 503, no queue (default ${default})."`

	LoadDelay       time.Duration `name:"load-delay" env:"RBEE_WORKER_LOAD_DELAY" group:"Test and fault knobs" placeholder:"D" help:"Wait D before ready, like a model load."`
	NeverReady      bool          `name:"never-ready" env:"RBEE_WORKER_NEVER_READY" group:"Test and fault knobs" help:"Serve /health as loading forever and never call back."`
	CrashAfter      time.Duration `name:"crash-after" env:"RBEE_WORKER_CRASH_AFTER" group:"Test and fault knobs" placeholder:"D" help:"Exit 3 with a message on stderr D after start."`
	IgnoreSIGTERM   bool          `name:"ignore-sigterm" env:"RBEE_WORKER_IGNORE_SIGTERM" group:"Test and fault knobs" help:"Log SIGTERM and SIGINT and keep running; only SIGKILL ends the worker."`
	CompletionDelay time.Duration `name:"completion-delay" env:"RBEE_WORKER_COMPLETION_DELAY" group:"Test and fault knobs" placeholder:"D" help:"Hold each completion (and its slot) D before answering, like a long generation."`
	TokenDelay      time.Duration `name:"token-delay" env:"RBEE_WORKER_TOKEN_DELAY" group:"Test and fault knobs" placeholder:"D" help:"Wait D between the words of a streamed answer, like a slow generation."`
	VRAMBytes       int64         `name:"vram-bytes" env:"RBEE_WORKER_VRAM_BYTES" group:"Test and fault knobs" placeholder:"N" help:"VRAM in bytes reported in the ready callback."`
}

// AfterApply checks the flags once kong has parsed them. It is AfterApply
// rather than Validate because kong calls Validate before its own check for
// missing required flags, which should be reported first.
func (c *cli) AfterApply() error { return c.validate() }

// validate checks the flags with the rules the agent and the queen apply to
// the same fields, so a bad value fails here rather than at the callback.
func (c *cli) validate() error {
	checks := []struct {
		flag string
		err  error
	}{
		{"--worker-id", api.ValidateWorkerID(c.WorkerID)},
		{"--model-ref", api.ValidateModelRef(c.ModelRef)},
		{"--backend", api.ValidateBackendName(c.Backend)},
		{"--device", rangeErr(c.Device, 0, maxDevice)},
		{"--port", rangeErr(c.Port, 0, 65535)},
		{"--slots", rangeErr(c.Slots, 1, maxSlots)},
		{"--callback-url", validateCallbackURL(c.CallbackURL)},
		{"--load-delay", nonNegative(int64(c.LoadDelay))},
		{"--crash-after", nonNegative(int64(c.CrashAfter))},
		{"--completion-delay", nonNegative(int64(c.CompletionDelay))},
		{"--token-delay", nonNegative(int64(c.TokenDelay))},
		{"--vram-bytes", nonNegative(c.VRAMBytes)},
	}
	for _, check := range checks {
		if check.err != nil {
			return fmt.Errorf("%s: %w", check.flag, check.err)
		}
	}
	return nil
}

func rangeErr(v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%d is out of range: must be %d–%d", v, lo, hi)
	}
	return nil
}

func nonNegative(v int64) error {
	if v < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

func validateCallbackURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http:// or https:// URL, e.g. http://127.0.0.1:7834/v1/workers/ready")
	}
	return nil
}

// Run runs the worker until a signal, a crash knob or a failure ends it.
func (c *cli) Run(log *slog.Logger) error {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopSignals := c.watchSignals(log, cancel)
	defer stopSignals()
	if c.CrashAfter > 0 {
		crash := time.AfterFunc(c.CrashAfter, func() {
			cancel(fmt.Errorf("%w after %s (--crash-after, RBEE_WORKER_CRASH_AFTER)", errCrash, c.CrashAfter))
		})
		defer crash.Stop()
	}
	w := &worker{
		log:   log,
		token: os.Getenv(api.WorkerTokenEnv),
		cfg:   *c,
		slots: make(chan struct{}, c.Slots),
	}
	return w.run(ctx)
}

// watchSignals ends ctx with an errStopSignal cause on SIGTERM or SIGINT, or
// only logs them with --ignore-sigterm. After the first signal that counts
// the default action is back: a second one ends the worker at once.
func (c *cli) watchSignals(log *slog.Logger, cancel context.CancelCauseFunc) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				if c.IgnoreSIGTERM {
					log.Warn("ignoring signal (--ignore-sigterm); only SIGKILL ends this worker", keySignal, sig.String())
					continue
				}
				signal.Reset(syscall.SIGTERM, syscall.SIGINT)
				cancel(fmt.Errorf("%w: %s", errStopSignal, sig))
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
