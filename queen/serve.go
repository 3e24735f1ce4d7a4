package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rbee-fleet/rbee/queen/gateway"
	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/httpserver"
	"github.com/rbee-fleet/rbee/shared/version"
)

type serveCmd struct {
	Listen            string        `default:"127.0.0.1:7833" help:"Address to serve the API on."`
	AdvertiseURL      string        `name:"advertise-url" help:"URL hive agents reach the queen at (default: derived from --listen)."`
	PeerURLs          []string      `name:"peer-url" sep:"," placeholder:"URL" help:"The other queens of the HA pair, as agents reach them (repeat the flag or separate by commas). Install writes them, after --advertise-url, into the config of http transport agents, which move to the queen that answers as active."`
	HeartbeatInterval time.Duration `name:"heartbeat-interval" default:"5s" help:"Heartbeat interval the queen asks agents for."`
	StaleAfter        time.Duration `name:"stale-after" default:"30s" help:"Silence after which a hive is offline."`
	DriftInterval     time.Duration `name:"drift-interval" default:"5m" help:"How often to read each installed node's branch head (list-nodes shows 'behind')."`
	MaxConnsPerIP     int           `name:"max-conns-per-ip" default:"128" help:"Open connections one remote address may hold (gateway clients behind one address need more)."`

	GatewayModels    string        `name:"gateway-models" type:"existingfile" placeholder:"FILE" help:"JSON file of the models the gateway may spawn on demand (README: The gateway)."`
	GatewayQueue     int           `name:"gateway-queue" default:"64" help:"Requests that may wait per model when every worker is busy; 0 answers 429 at once."`
	GatewayQueueWait time.Duration `name:"gateway-queue-wait" default:"30s" help:"Longest wait in the queue before 503."`
	IdleTimeout      time.Duration `name:"idle-timeout" default:"5m" help:"Stop a worker the gateway spawned after this long without a request; 0 = never."`
	IdleStopManual   bool          `name:"idle-stop-manual" help:"Apply --idle-timeout to workers spawned by hand too."`

	Store     string        `name:"store" env:"RBEE_STORE" placeholder:"sqlite:PATH|postgres://…" help:"Where the hive registry lives: sqlite:PATH (default: beehives.db in the data dir), or a PostgreSQL DSN for an HA pair of queens (README: High availability)."`
	LeasePoll time.Duration `name:"lease-poll" default:"1s" help:"With PostgreSQL: how often the active queen renews its lease and standbys try to take it."`
	LeaseTTL  time.Duration `name:"lease-ttl" default:"5s" help:"With PostgreSQL: the lease time; an active queen that cannot renew it for this long steps down."`
}

// tokenFile and dbFile are the names of the queen's files in its data dir.
const (
	tokenFile = "admin.token"
	dbFile    = "beehives.db"
)

func (s *serveCmd) Run(ctx context.Context, g *Globals) error {
	log := slog.New(httpserver.LogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	// From here on SIGHUP reloads the admin token instead of ending the
	// queen.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := os.MkdirAll(g.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", g.DataDir, err)
	}
	token, err := ensureToken(filepath.Join(g.DataDir, tokenFile))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; is another queen running? pick another address with --listen", s.Listen, err)
	}
	peers, err := checkPeerURLs(s.PeerURLs)
	if err != nil {
		ln.Close()
		return err
	}
	settings, err := s.gatewaySettings()
	if err != nil {
		return err
	}
	cfg := server.Config{
		Token: token, Logger: log,
		QueenURL: s.queenURL(ln.Addr()), PeerURLs: peers, AgentBinary: agentBinary(),
		HeartbeatInterval: s.HeartbeatInterval, StaleAfter: s.StaleAfter, DriftInterval: s.DriftInterval,
		Gateway: settings,
	}
	queen, err := s.start(ctx, g, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer queen.Close()
	go reloadOnHangup(ctx, log, hup, filepath.Join(g.DataDir, tokenFile), queen)
	srv := httpserver.New(queen, httpserver.Limits{Logger: log, MaxConnsPerIP: s.MaxConnsPerIP})
	log.Info("queen serving", "version", version.String(), "listen", ln.Addr().String(), "data_dir", g.DataDir, "store", s.storeName(g))
	fmt.Fprintf(os.Stderr, "queen listening on http://%s (data dir %s)\n", ln.Addr(), g.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("queen shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// queenURL is the URL agents are told to reach the queen at: --advertise-url,
// else the listen address when it names one host; "" for a wildcard listen
// address, where install then asks for --advertise-url.
func (s *serveCmd) queenURL(addr net.Addr) string {
	if s.AdvertiseURL != "" {
		return strings.TrimRight(s.AdvertiseURL, "/")
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		return ""
	}
	return "http://" + tcp.String()
}

// Validate refuses the flag values serve would fail on only after start:
// a --store of no known form, a bad --peer-url, a lease time not above its
// poll. They are usage errors.
func (s *serveCmd) Validate() error {
	if s.Store != "" {
		if err := hiveregistry.CheckSpec(s.Store); err != nil {
			return err
		}
	}
	if _, err := checkPeerURLs(s.PeerURLs); err != nil {
		return err
	}
	if s.LeaseTTL <= s.LeasePoll {
		return fmt.Errorf("--lease-ttl %s must exceed --lease-poll %s: the active queen renews at every poll and loses the lease after the lease time", s.LeaseTTL, s.LeasePoll)
	}
	return nil
}

// checkPeerURLs checks --peer-url: each an http:// or https:// URL with a
// host, as agents reach that queen; it returns them without trailing
// slashes.
func checkPeerURLs(raw []string) ([]string, error) {
	var out []string
	for _, p := range raw {
		p = strings.TrimRight(strings.TrimSpace(p), "/")
		if p == "" {
			continue
		}
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--peer-url %q is not an http:// or https:// URL with a host; give each other queen of the HA pair as agents reach it, e.g. --peer-url http://10.0.0.2:7833", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// agentBinary is the prebuilt hive-agent that install uploads: the one next
// to the queen binary.
func agentBinary() string {
	exe, err := os.Executable()
	if err != nil {
		return "hive-agent"
	}
	return filepath.Join(filepath.Dir(exe), "hive-agent")
}

// reloadOnHangup re-reads the admin token file on every signal from hup
// until ctx ends and puts it in force; a file that fails its checks is
// logged and the token in force stays. The log names the token by a
// fingerprint, never the token.
func reloadOnHangup(ctx context.Context, log *slog.Logger, hup <-chan os.Signal, path string, srv tokenSetter) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		token, err := readTokenFile(path)
		if err != nil {
			log.Error("SIGHUP: admin token not reloaded; the old one stays in force", "err", err)
			continue
		}
		srv.SetAdminToken(token)
		log.Info("SIGHUP: reloaded the admin token; the old one is refused from now on", "file", path, "token_sha256_prefix", tokenFingerprint(token))
	}
}

// tokenSetter puts a new admin token in force.
type tokenSetter interface{ SetAdminToken(token string) }

// tokenFingerprint names a token in logs without revealing it: the first
// 12 hex digits of its SHA-256.
func tokenFingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}

// gatewaySettings turns the gateway flags into settings, reading the
// models file.
func (s *serveCmd) gatewaySettings() (gateway.Settings, error) {
	if s.GatewayQueue < 0 || s.GatewayQueueWait < 0 || s.IdleTimeout < 0 {
		return gateway.Settings{}, errors.New("--gateway-queue, --gateway-queue-wait and --idle-timeout must not be negative")
	}
	set := gateway.Settings{QueueLength: s.GatewayQueue, QueueWait: s.GatewayQueueWait,
		IdleTimeout: s.IdleTimeout, IdleStopManual: s.IdleStopManual}
	if s.GatewayModels != "" {
		models, err := gateway.LoadModels(s.GatewayModels)
		if err != nil {
			return gateway.Settings{}, withHint(err, "fix the file; README: The gateway shows its form")
		}
		set.Models = models
	}
	return set, nil
}
