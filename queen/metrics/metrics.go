package metrics

import (
	"context"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rbee-fleet/rbee/shared/api"
)

// heartbeatRoute is the pattern of the agents' heartbeat route, whose
// answers count as heartbeats received.
const heartbeatRoute = "POST /v1/hives/{name}/heartbeat"

// Nodes is what the collector reads of the hive registry.
type Nodes interface {
	List(ctx context.Context) ([]api.Node, error)
}

// Workers is what the collector reads of the worker registry: every
// worker, one at a time (a scrape of 160,000 workers copies none of them
// all at once).
type Workers interface {
	All() iter.Seq[api.Worker]
}

// Config is what the metrics read at scrape time.
type Config struct {
	Nodes   Nodes   // required
	Workers Workers // required
	// SSHHandshakes returns the SSH handshakes the queen made; nil leaves
	// rbee_queen_ssh_handshakes_total out.
	SSHHandshakes func() int64
	// GatewayQueues returns the gateway's waiting requests per model; nil
	// leaves rbee_queen_gateway_queue_length out.
	GatewayQueues func() map[string]int
	// Lease returns the queen's role, epoch and lease age; nil leaves
	// rbee_queen_role, rbee_queen_lease_epoch and
	// rbee_queen_lease_age_seconds out.
	Lease func() LeaseState
	// Logger receives scrape errors; nil means slog.Default().
	Logger *slog.Logger
}

// Metrics is the queen's Prometheus registry, safe for concurrent use.
type Metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	heartbeats    *prometheus.CounterVec
	installRuns   *prometheus.CounterVec
	installPhases *prometheus.HistogramVec
	dialErrors    prometheus.Counter
	gwRequests    *prometheus.CounterVec
	gwFirstByte   *prometheus.HistogramVec
}

// New returns the queen's metrics for cfg, with the Go runtime's and the
// process's collectors.
func New(cfg Config) *Metrics {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rbee_queen_http_requests_total",
		Help: "HTTP requests the queen answered, by route pattern and status code."}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rbee_queen_http_request_duration_seconds",
		Help:    "Time from a request's arrival to the end of its answer, by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"route"})
	m.heartbeats = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rbee_queen_heartbeats_total",
		Help: "Agent heartbeats received: result accepted (2xx) or rejected (any other answer)."}, []string{"result"})
	m.installRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rbee_queen_install_runs_total",
		Help: "Installs of one node that ended, by result (installed, up to date, failed)."}, []string{"result"})
	m.installPhases = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rbee_queen_install_phase_duration_seconds",
		Help:    "Duration of each install phase that finished, by phase title.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}}, []string{"phase"})
	m.dialErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "rbee_queen_ssh_dial_errors_total",
		Help: "SSH connections to nodes that failed (after their retries)."})
	m.gwRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rbee_queen_gateway_requests_total",
		Help: "Inference requests the gateway answered for a model it serves, by model and status code."}, []string{"model", "code"})
	m.gwFirstByte = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rbee_queen_gateway_first_byte_seconds",
		Help:    "Time from a gateway request's arrival to the first byte of its answer, by model.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"model"})
	for _, r := range []string{"accepted", "rejected"} {
		m.heartbeats.WithLabelValues(r)
	}
	for _, r := range []string{api.ResultInstalled, api.ResultUpToDate, api.ResultFailed} {
		m.installRuns.WithLabelValues(r)
	}
	m.reg.MustRegister(m.requests, m.latency, m.heartbeats, m.installRuns, m.installPhases, m.dialErrors, m.gwRequests, m.gwFirstByte,
		&stateCollector{nodes: cfg.Nodes, workers: cfg.Workers, log: cfg.Logger},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.SSHHandshakes != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rbee_queen_ssh_handshakes_total",
			Help: "SSH handshakes the queen made."}, func() float64 { return float64(cfg.SSHHandshakes()) }))
	}
	if cfg.GatewayQueues != nil {
		m.reg.MustRegister(&queueCollector{lengths: cfg.GatewayQueues})
	}
	if cfg.Lease != nil {
		m.reg.MustRegister(&leaseCollector{state: cfg.Lease})
	}
	return m
}

// GatewayRequest counts one answered gateway request (gateway.Observer).
func (m *Metrics) GatewayRequest(model string, status int) {
	m.gwRequests.WithLabelValues(model, strconv.Itoa(status)).Inc()
}

// GatewayFirstByte records a gateway answer's time to first byte
// (gateway.Observer).
func (m *Metrics) GatewayFirstByte(model string, took time.Duration) {
	m.gwFirstByte.WithLabelValues(model).Observe(took.Seconds())
}

// queueLengthDesc is the gateway's queue per model.
var queueLengthDesc = prometheus.NewDesc("rbee_queen_gateway_queue_length",
	"Gateway requests waiting for a free worker, by model.", []string{"model"}, nil)

// queueCollector reads the gateway's queues at scrape time.
type queueCollector struct{ lengths func() map[string]int }

// Describe sends the queue length's descriptor.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueLengthDesc }

// Collect sends one gauge per model the gateway knows.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for model, n := range c.lengths() {
		ch <- prometheus.MustNewConstMetric(queueLengthDesc, prometheus.GaugeValue, float64(n), model)
	}
}

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics when the scraper asks for it). It checks no token: mount it
// behind the queen's auth.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// InstallPhase records a finished install phase and how long it took.
func (m *Metrics) InstallPhase(phase string, took time.Duration) {
	m.installPhases.WithLabelValues(phase).Observe(took.Seconds())
}

// InstallRun records the end of one node's install with its result.
func (m *Metrics) InstallRun(result string) {
	m.installRuns.WithLabelValues(result).Inc()
}

// SSHDialError records an SSH connection to a node that failed.
func (m *Metrics) SSHDialError() { m.dialErrors.Inc() }

// observe records one answered request of route with its code.
func (m *Metrics) observe(route string, code int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
	if route != heartbeatRoute {
		return
	}
	result := "rejected"
	if code >= 200 && code < 300 {
		result = "accepted"
	}
	m.heartbeats.WithLabelValues(result).Inc()
}
