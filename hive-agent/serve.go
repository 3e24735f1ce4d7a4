package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rbee-fleet/rbee/hive-agent/agentconfig"
	"github.com/rbee-fleet/rbee/hive-agent/devices"
	"github.com/rbee-fleet/rbee/hive-agent/pidfile"
	"github.com/rbee-fleet/rbee/hive-agent/relay"
	"github.com/rbee-fleet/rbee/hive-agent/server"
	"github.com/rbee-fleet/rbee/hive-agent/supervisor"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/httpserver"
	"github.com/rbee-fleet/rbee/shared/version"
)

// shutdownTimeout bounds the HTTP server's shutdown after a signal.
const shutdownTimeout = 5 * time.Second

type serveCmd struct {
	Config   string `required:"" type:"path" placeholder:"FILE" help:"The agent's config, <install_path>/hive-agent.json (mode 0600)."`
	LogLevel string `name:"log-level" enum:"debug,info,warn,error" default:"info" help:"Least level logged to stderr: ${enum}."`
}

// Run loads the config, takes the listen address, writes the pid file and
// serves until ctx ends; then it shuts down and removes the pid file.
// SIGHUP meanwhile re-reads the config's tokens (hive_token,
// queen_token_sha256) and puts them in force; workers keep running.
func (s *serveCmd) Run(ctx context.Context) error {
	// From here on SIGHUP reloads the config's tokens instead of ending
	// the agent.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := agentconfig.Load(s.Config)
	if err != nil {
		return err
	}
	log := newLogger(s.LogLevel).With("node", cfg.NodeName, "queen", strings.Join(agentconfig.QueenURLs(cfg), ","))
	// Listen before touching the pid file: a second agent on the same
	// install must not clobber the first one's.
	ln, err := listenAPI(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; stop what holds it (another hive-agent? see %s) or change \"listen\" in %s",
			cfg.Listen, err, pidfile.ForConfig(s.Config), s.Config)
	}
	pidPath := pidfile.ForConfig(s.Config)
	pid := os.Getpid()
	if err := pidfile.Write(pidPath, pid); err != nil {
		ln.Close()
		return fmt.Errorf("%w; check that %s is writable by this user", err, pidPath)
	}
	defer func() {
		if err := pidfile.Remove(pidPath, pid); err != nil {
			log.Warn("pid file left behind; remove it by hand", "path", pidPath, "err", err)
		}
	}()
	return serve(ctx, log, cfg, s.Config, ln, hup)
}

// serve runs the HTTP API on ln, the workers and the heartbeat until ctx
// ends or the server fails, and reloads the config's tokens on every
// signal from hup; then it stops the workers (deregistering them), the
// heartbeat and the server.
func serve(ctx context.Context, log *slog.Logger, cfg api.AgentConfig, configPath string, ln net.Listener, hup <-chan os.Signal) error {
	detect := func(ctx context.Context) api.Devices { return devices.Detect(ctx, log) }
	devs := detect(ctx)
	log.Info("devices detected", "capabilities", strings.Join(devs.Capabilities, ","), "cpu_cores", devs.CPU.Cores)
	watch := devices.NewWatcher(devs, detect, redetectInterval(log))
	var sup *supervisor.Supervisor
	rl, err := relay.New(relay.Config{
		QueenURL:  cfg.QueenURL,
		QueenURLs: cfg.QueenURLs,
		NodeName:  cfg.NodeName,
		Token:     cfg.HiveToken,
		Beat: api.HeartbeatRequest{
			AgentVersion: version.String(),
			PID:          os.Getpid(),
			StartedUnix:  time.Now().Unix(),
			Listen:       cfg.Listen,
			Capabilities: devs.Capabilities,
		},
		Snapshot: func() []api.Worker { return sup.List() },
		Devices:  watch.Current,
	}, log)
	if err != nil {
		ln.Close()
		return err
	}
	dir := filepath.Dir(configPath)
	cbAddr := ln.Addr()
	var cbLn net.Listener
	if isSocketPath(cfg.Listen) {
		if cbLn, err = callbackListener(); err != nil {
			ln.Close()
			return fmt.Errorf("listen for worker callbacks on loopback: %w", err)
		}
		cbAddr = cbLn.Addr()
	}
	sup = supervisor.New(supervisor.Config{
		Node:        cfg.NodeName,
		Backends:    cfg.Backends,
		PortMin:     cfg.WorkerPortMin,
		PortMax:     cfg.WorkerPortMax,
		WorkerHost:  cfg.WorkerHost,
		CallbackURL: callbackURL(cbAddr),
		StateFile:   filepath.Join(dir, "run", "workers.json"),
		LogDir:      filepath.Join(dir, "logs", "workers"),
		InstallPath: dir,
		Devices:     detect,
		Relay:       rl,
		Log:         log,
		StopGrace:   time.Duration(cfg.WorkerStopGraceMS) * time.Millisecond,
		// 0 means the supervisor's defaults (5 s, 2 s).
		HealthInterval: time.Duration(cfg.WorkerHealthIntervalMS) * time.Millisecond,
		HealthTimeout:  time.Duration(cfg.WorkerHealthTimeoutMS) * time.Millisecond,
	})
	if adopted, ended, err := sup.Adopt(ctx); err != nil {
		ln.Close()
		return err
	} else if adopted+ended > 0 {
		log.Info("dealt with the workers of the previous agent", "adopted", adopted, "ended", ended)
	}
	routes := server.New(server.Config{Workers: sup, Devices: detect, QueenTokenSHA256: cfg.QueenTokenSHA256})
	srv := httpserver.New(routes, httpserver.Limits{Logger: log})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if cbLn != nil {
		cbSrv := httpserver.New(readyOnly(routes), httpserver.Limits{Logger: log})
		go func() { served <- cbSrv.Serve(cbLn) }()
		defer cbSrv.Close()
	}

	beatCtx, stopBeats := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { rl.Run(beatCtx) })
	wg.Go(func() { watch.Run(beatCtx) })
	reload := &tokenReload{path: configPath, log: log, relay: rl, api: routes, cur: cfg}
	wg.Go(func() { reload.run(beatCtx, hup) })
	log.Info("hive-agent serving", "version", version.String(), "listen", ln.Addr().String(), "pid", os.Getpid())

	var result error
	select {
	case err := <-served:
		result = fmt.Errorf("serve http on %s: %w; check the log above and restart the agent", cfg.Listen, err)
	case <-ctx.Done():
		log.Info("shutting down; send the signal again to exit at once")
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sup.StopGrace()+2*time.Second)
	sup.StopAll(stopCtx)
	cancel()
	stopBeats()
	wg.Wait()
	if err := shutdown(context.WithoutCancel(ctx), srv); err != nil && result == nil {
		result = err
	}
	if result == nil {
		log.Info("hive-agent stopped")
	}
	return result
}

// redetectEnv names the environment variable that sets how often the
// agent detects its devices again (a Go duration, e.g. 10s; default
// devices.DefaultRedetect).
const redetectEnv = "RBEE_DEVICE_INTERVAL"

// redetectInterval returns the interval redetectEnv asks for, or 0 (the
// default) when it is unset or not a positive duration, which is logged.
func redetectInterval(log *slog.Logger) time.Duration {
	v := os.Getenv(redetectEnv)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		log.Warn("ignoring "+redetectEnv+"; it must be a positive Go duration such as 30s", "value", v)
		return 0
	}
	return d
}

// callbackURL returns the ready callback URL workers on this node use: the
// listen address, with loopback for an unspecified one.
func callbackURL(addr net.Addr) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/v1/workers/ready"
}

// shutdown stops the HTTP server, waiting at most shutdownTimeout for open
// requests.
func shutdown(ctx context.Context, srv *httpserver.Server) error {
	ctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down http server: %w; open requests were cut off", err)
	}
	return nil
}

// newLogger returns the text logger on stderr at level.
func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // kong's enum allows only valid levels
	return slog.New(httpserver.LogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
}
