package statuspage

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

//go:embed assets
var assets embed.FS

// Nodes lists the nodes of the hive registry, ordered by name.
type Nodes interface {
	List(ctx context.Context) ([]api.Node, error)
}

// Workers lists the workers, ordered by node then id, and says when they
// change (see workerregistry.Registry.Changed).
type Workers interface {
	List(f api.WorkerFilter) []api.Worker
	Changed() <-chan struct{}
}

// Hives tells what the queen last heard from a node's agent.
type Hives interface {
	// Hive returns the last heartbeat of node's agent; false when none
	// came since the queen started.
	Hive(node string) (Hive, bool)
}

// Hive is the last heartbeat of an agent.
type Hive struct {
	LastBeat     time.Time
	AgentVersion string   // the running agent's version: the commit it was built from
	Capabilities []string // "cpu", "cuda:0", …
	// Devices are the node's devices with their memory; nil until agents
	// report them.
	Devices []Device
	// BranchHead is the newest commit of the node's branch the queen saw
	// ("" when not checked yet); a row whose installed commit differs shows
	// it as behind.
	BranchHead string
}

// Device is one device of a node with its memory, shown as a VRAM bar.
type Device struct {
	Name        string
	MemoryTotal int64
	MemoryFree  int64
}

// Connections tells the state of the queen's SSH connection to a node.
type Connections interface {
	Connection(node string) Connection
}

// Connection is the state of the queen's pooled SSH connection to a node.
type Connection struct {
	Connected bool
	LastError string // why the last dial failed, when not connected
}

// Installs tells the phases of the last install the queen ran on a node
// since it started.
type Installs interface {
	LastPhases(node string) []Phase
}

// Phase is one phase of an install.
type Phase struct {
	Title   string
	Took    time.Duration
	Running bool // started and not finished
	Failed  bool
}

// Config is what the page reads.
type Config struct {
	Nodes   Nodes   // required
	Workers Workers // required
	Hives   Hives   // nil: no heartbeat column data
	// Connections gives the SSH connection of each node; nil shows only
	// the node's transport.
	Connections Connections
	// Installs gives install phases; nil shows only the stored outcome.
	Installs Installs
	// CheckToken reports whether a token may open the page: the admin
	// token, or a key with a read-only scope. Required.
	CheckToken func(token string) bool
	// SessionTTL is how long a session lasts; 0 means 12 h.
	SessionTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil means slog.Default()
}

// page serves the status page's routes.
type page struct {
	cfg      Config
	tpl      *template.Template
	view     *view
	sessions *sessions
	cop      *http.CrossOriginProtection
	mux      *http.ServeMux
}

// New returns the status page: GET / (the page), GET and POST /ui/login,
// POST /ui/logout, GET /ui/updates and the embedded /ui/static/. Mount it
// for `GET /{$}` and `/ui/`.
func New(cfg Config) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	tpl := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "assets/templates/*.html"))
	p := &page{cfg: cfg, tpl: tpl, view: newView(cfg, tpl), sessions: newSessions(cfg.Now, cfg.SessionTTL),
		cop: http.NewCrossOriginProtection(), mux: http.NewServeMux()}
	p.routes()
	return p
}

func (p *page) routes() {
	p.mux.HandleFunc("GET /{$}", p.index)
	p.mux.HandleFunc("GET /ui/login", p.loginForm)
	p.mux.Handle("POST /ui/login", p.cop.Handler(http.HandlerFunc(p.login)))
	p.mux.Handle("POST /ui/logout", p.cop.Handler(http.HandlerFunc(p.logout)))
	p.mux.HandleFunc("GET /ui/updates", p.updates)
	static, _ := fs.Sub(assets, "assets/static")
	p.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	p.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
}

// ServeHTTP serves the page's routes with its security headers.
func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	p.mux.ServeHTTP(w, r)
}
