package server

import (
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/queen/gateway"
	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/queen/metrics"
	"github.com/rbee-fleet/rbee/queen/sshpool"
	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// Config is what a Server needs.
type Config struct {
	Registry *hiveregistry.Registry // required
	Token    string                 // admin bearer token, required; SetAdminToken replaces it
	Logger   *slog.Logger           // nil means slog.Default()
	// Retry is the SSH connect retry policy; the zero value is the README's (3 attempts, 200 then 400 ms apart).
	Retry provision.RetryPolicy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// QueenURL is the URL hive agents reach the queen at (written into
	// their config at install).
	QueenURL string
	// PeerURLs are the other queens of an HA pair as agents reach them;
	// install writes them, after QueenURL, into the queen_urls of http
	// transport agents, which move to the one that answers as active.
	PeerURLs []string
	// AgentBinary is the prebuilt linux hive-agent that install uploads.
	AgentBinary string
	// HeartbeatInterval is the interval agents are told to beat at; 0 means 5 s.
	HeartbeatInterval time.Duration
	// StaleAfter is the silence after which a hive is offline; 0 means 30 s.
	StaleAfter time.Duration
	// HeartbeatTimeout bounds install's wait for a new agent's first
	// heartbeat; 0 means 60 s.
	HeartbeatTimeout time.Duration
	// DriftInterval is how often the queen reads each installed node's
	// branch head (README: Node statuses, drift); 0 means 5 minutes.
	DriftInterval time.Duration
	// Gateway are the settings of the OpenAI-compatible gateway served on
	// the same address (README: The gateway).
	Gateway gateway.Settings
	// Lease is the lease of an HA pair on PostgreSQL: while it says
	// standby every route but health and metrics answers 503 STANDBY. nil
	// means always active (SQLite).
	Lease Lease
}

// Server serves the queen's HTTP API.
type Server struct {
	cfg        Config
	log        *slog.Logger
	handshakes atomic.Int64 // SSH handshakes made, for /metrics
	beats      *heartbeats
	workers    *workerregistry.Registry
	tokens     *hiveTokens
	agentHTTP  *http.Client
	pool       *sshpool.Pool
	forwards   forwards
	handler    http.Handler // the routes, also served on the remote forwards
	prom       *metrics.Metrics
	phases     *installPhases // the last install's phases, for the status page
	heads      branchHeads    // the nodes' branch heads, for drift

	clientsMu    sync.Mutex
	agentClients map[string]*http.Client // per node and agent URL, over the pool
	adminToken   atomic.Pointer[string]  // the admin token in force
	keys         *clientKeys
	gateway      *gateway.Gateway

	hashes install.HashCache // the hashes of the nodes' binaries, for install re-runs

	mu      sync.Mutex
	pending map[string]bool // names with an add, update or remove in flight
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 30 * time.Second
	}
	if cfg.DriftInterval <= 0 {
		cfg.DriftInterval = defaultDriftInterval
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	s := &Server{cfg: cfg, log: cfg.Logger, pending: map[string]bool{}, beats: newHeartbeats(),
		workers: workerregistry.New(), tokens: newHiveTokens(), agentHTTP: &http.Client{Transport: transport}}
	s.SetAdminToken(cfg.Token)
	s.prom = s.newMetrics()
	s.phases = newInstallPhases(s.prom)
	s.pool = s.newPool()
	s.forwards.nodes = map[string]*forward{}
	s.agentClients = map[string]*http.Client{}
	s.keys = &clientKeys{s: s, ok: map[string]string{}}
	s.gateway = gateway.New(gateway.Config{Settings: cfg.Gateway, Workers: s.workers, Keys: s.keys,
		Fleet: gatewayFleet{s}, Observer: s.prom, Logger: cfg.Logger})
	s.handler = s.routes()
	return s
}

// SetAdminToken replaces the admin token: requests with the old one are
// refused from now on (a rotation without a restart).
func (s *Server) SetAdminToken(token string) {
	s.adminToken.Store(&token)
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler { return s.handler }

// routes builds the handler with every route.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", s.health)
	mux.Handle("GET /metrics", s.auth(s.prom.Handler()))
	page := s.statusPage()
	mux.Handle("GET /{$}", page) // the status page, with its own login
	mux.Handle("/ui/", page)
	mux.Handle("POST /v1/hives", s.auth(http.HandlerFunc(s.addNode)))
	mux.Handle("GET /v1/hives", s.auth(http.HandlerFunc(s.listNodes)))
	mux.Handle("GET /v1/hives/{name}", s.auth(http.HandlerFunc(s.getNode)))
	mux.Handle("PATCH /v1/hives/{name}", s.auth(http.HandlerFunc(s.updateNode)))
	mux.Handle("DELETE /v1/hives/{name}", s.auth(http.HandlerFunc(s.removeNode)))
	mux.Handle("POST /v1/hives/{name}/preflight", s.auth(http.HandlerFunc(s.preflight)))
	mux.HandleFunc("POST /v1/hives/{name}/heartbeat", s.heartbeat) // hive token, checked inside
	mux.Handle("POST /v1/install", s.auth(http.HandlerFunc(s.install)))
	mux.Handle("POST /v1/hives/{name}/install", s.auth(http.HandlerFunc(s.installOne)))
	mux.Handle("POST /v1/hives/{name}/uninstall", s.auth(http.HandlerFunc(s.uninstall)))
	mux.Handle("POST /v1/hives/{name}/start", s.auth(http.HandlerFunc(s.startHive)))
	mux.Handle("POST /v1/hives/{name}/stop", s.auth(http.HandlerFunc(s.stopHive)))
	mux.Handle("GET /v1/hives/{name}/status", s.auth(http.HandlerFunc(s.hiveStatus)))
	mux.Handle("POST /v1/hives/{name}/rotate-token", s.auth(http.HandlerFunc(s.rotateTokens)))
	mux.HandleFunc("POST /v1/workers/register", s.registerWorker) // hive token, checked inside
	mux.HandleFunc("POST /v1/workers/update", s.updateWorker)
	mux.HandleFunc("DELETE /v1/workers/{id}", s.removeWorker)
	mux.Handle("GET /v1/workers/list", s.auth(http.HandlerFunc(s.listWorkers)))
	mux.Handle("POST /v1/workers/spawn", s.auth(http.HandlerFunc(s.spawnWorker)))
	mux.Handle("POST /v1/workers/{id}/stop", s.auth(http.HandlerFunc(s.stopWorker)))
	mux.Handle("GET /v1/workers/{id}/connect", s.auth(http.HandlerFunc(s.connectWorker)))
	mux.Handle("POST /v1/keys", s.auth(http.HandlerFunc(s.createKey)))
	mux.Handle("GET /v1/keys", s.auth(http.HandlerFunc(s.listKeys)))
	mux.Handle("DELETE /v1/keys/{name}", s.auth(http.HandlerFunc(s.revokeKey)))
	for _, route := range gateway.Routes {
		mux.Handle(route, s.gateway) // client keys, checked inside
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound,
			Message: "no route " + r.Method + " " + r.URL.Path, Hint: "see the HTTP API section of the README for the routes"})
	})
	return s.prom.Instrument(s.gate(mux))
}

// auth lets a request through only with the admin bearer token; a
// gateway client key gets 403.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(*s.adminToken.Load())) != 1 {
			if _, isKey, _ := s.keys.ClientOf(r.Context(), token); isKey {
				writeError(w, http.StatusForbidden, api.ErrorDetail{Code: api.CodeForbidden,
					Message: "a gateway client key is not accepted on admin routes",
					Hint:    "pass the queen's admin token (its data dir's admin.token) with --token or RBEE_TOKEN"})
				return
			}
		}
		if !ok || token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(*s.adminToken.Load())) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, api.ErrorDetail{Code: api.CodeUnauthorized,
				Message: "missing or wrong bearer token",
				Hint:    "pass the queen's admin token (its data dir's admin.token) with --token or RBEE_TOKEN"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// reserve marks name busy so that concurrent operations on one node (two
// adds of one name, an install and an update) give one winner; it returns
// false when the name is already busy. release is idempotent, so a handler
// can both defer it and call it before its final event: a client that
// reads the final event may start its next operation on the node at once.
func (s *Server) reserve(name string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[name] {
		return nil, false
	}
	s.pending[name] = true
	return sync.OnceFunc(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.pending, name)
	}), true
}
