package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// Defaults of [Settings].
const (
	DefaultQueueWait   = 30 * time.Second
	DefaultIdleTimeout = 5 * time.Minute
	DefaultQueueLength = 64
)

// Settings are the operator's choices (queen serve flags and the models
// file).
type Settings struct {
	// QueueLength bounds the requests waiting per model; 0 means none
	// wait: a request that finds every worker full gets 429.
	QueueLength int
	// QueueWait bounds a request's wait in the queue; 0 means
	// DefaultQueueWait.
	QueueWait time.Duration
	// IdleTimeout stops a worker with no request for that long; 0 means
	// never.
	IdleTimeout time.Duration
	// IdleStopManual applies IdleTimeout to workers spawned by hand too.
	IdleStopManual bool
	// Models are the models that may be spawned on demand.
	Models []ModelSpec
	// DialContext reaches a worker of node at addr (host:port of its URL);
	// nil means a plain net.Dialer with a 5 s timeout.
	DialContext func(ctx context.Context, node, network, addr string) (net.Conn, error)
}

// Keys tells client keys from everything else.
type Keys interface {
	// ClientOf returns the name of the client key in force that key is;
	// ok is false for any other string.
	ClientOf(ctx context.Context, key string) (name string, ok bool, err error)
	// IsAdminToken reports whether key is the queen's admin token.
	IsAdminToken(key string) bool
}

// Fleet is what the gateway asks of the queen to spawn and stop workers.
type Fleet interface {
	// Nodes returns the online nodes with their devices.
	Nodes(ctx context.Context) ([]NodeDevices, error)
	// Spawn starts a worker and returns it once ready and registered.
	Spawn(ctx context.Context, req api.SpawnWorkerRequest) (api.Worker, error)
	// Stop stops a worker through its agent and deregisters it.
	Stop(ctx context.Context, id string) error
}

// NodeDevices is an online node and what its agent detected.
type NodeDevices struct {
	Node    string
	Devices api.Devices
}

// Config is what a Gateway needs.
type Config struct {
	Settings
	Workers *workerregistry.Registry // required
	Keys    Keys                     // required
	// Fleet spawns and stops workers; nil turns spawn on demand and the
	// idle timeout off.
	Fleet Fleet
	// Observer is told of every answered request; nil tells nobody.
	Observer Observer
	Logger   *slog.Logger // nil means slog.Default()
}

// Gateway serves the OpenAI-compatible routes. Create it with New; it
// routes nothing until Run has built its table.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	table  *table
	models map[string]ModelSpec
	mux    *http.ServeMux

	tmu        sync.RWMutex
	transports map[string]*http.Transport // per node

	// seen is the registry's change channel the table was last rebuilt
	// under: closed once the registry changed since.
	seen atomic.Pointer[<-chan struct{}]
	// rmu serializes refreshes (follow and a request catching up): an
	// older set of changes must not land after a newer one. version is
	// the registry's version the table is up to, once built.
	rmu     sync.Mutex
	version uint64
	built   bool

	base   context.Context // ends when Run returns; spawns run under it
	cancel context.CancelFunc
}

// New returns a Gateway for cfg.
func New(cfg Config) *Gateway {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultQueueWait
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, table: newTable(cfg.QueueLength),
		models: map[string]ModelSpec{}, transports: map[string]*http.Transport{}}
	for _, m := range cfg.Models {
		g.models[m.Model] = m.withDefaults()
	}
	g.base, g.cancel = context.WithCancel(context.Background())
	g.mux = http.NewServeMux()
	g.mux.HandleFunc("GET /v1/models", g.listModels)
	g.mux.HandleFunc("POST /v1/completions", g.infer)
	g.mux.HandleFunc("POST /v1/chat/completions", g.infer)
	return g
}

// Routes are the gateway's routes, for the queen's mux.
var Routes = []string{"GET /v1/models", "POST /v1/completions", "POST /v1/chat/completions"}

// ServeHTTP serves one of Routes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Run keeps the routing table in step with the worker registry and stops
// idle workers until ctx ends.
func (g *Gateway) Run(ctx context.Context) {
	defer g.cancel()
	go g.maintain(ctx)
	g.follow(ctx)
}

// follow brings the routing table up to the registry at every change of
// it (refresh: the changed records, or all of them when the change log
// does not reach back), at most once per rebuildGap, or per rebuildSpacing
// times the last refresh's duration when that is longer: should a big
// registry under churn need full rebuilds (160,000 workers), they cost at
// most about a tenth of a core, not all of one.
func (g *Gateway) follow(ctx context.Context) {
	for {
		began := time.Now()
		changed := g.refresh()
		gap := max(rebuildGap, rebuildSpacing*time.Since(began))
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap):
		}
	}
}

// rebuildSpacing is how many rebuilds' time at least goes between two.
const rebuildSpacing = 10

// refresh brings the table up to the registry and returns the change
// channel it did so under: the records changed since the last refresh
// when the registry's change log reaches back that far, else every
// record (the first time, or after more than the log holds).
func (g *Gateway) refresh() <-chan struct{} {
	g.rmu.Lock()
	defer g.rmu.Unlock()
	changed := g.cfg.Workers.Changed()
	g.catchUp()
	g.seen.Store(&changed)
	return changed
}

// catchUp applies the registry's changes since the table's version, or
// rebuilds the table from every record. The caller holds g.rmu.
func (g *Gateway) catchUp() {
	if g.built {
		if changes, version, ok := g.cfg.Workers.ChangesSince(g.version); ok {
			g.table.update(changes, time.Now())
			g.version = version
			return
		}
	}
	g.version = g.cfg.Workers.Version() // before the walk: what changes during it comes next time
	g.table.rebuild(g.cfg.Workers.All(), time.Now())
	g.built = true
}

// stale reports whether the registry changed since the table's last
// rebuild, or the table was never built.
func (g *Gateway) stale() bool {
	p := g.seen.Load()
	if p == nil {
		return true
	}
	select {
	case <-*p:
		return true
	default:
		return false
	}
}

// rebuildGap bounds how often the table is rebuilt under a storm of
// registry changes.
const rebuildGap = 20 * time.Millisecond
