package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rbee-fleet/rbee/shared/api"
)

// scrapeTimeout bounds the registry read of one scrape.
const scrapeTimeout = 5 * time.Second

var (
	nodesDesc = prometheus.NewDesc("rbee_queen_nodes",
		"Nodes in the hive registry by status.", []string{"status"}, nil)
	workersDesc = prometheus.NewDesc("rbee_queen_workers",
		"Workers in the in-memory worker registry by state and model; sum(rbee_queen_workers) is the total.",
		[]string{"state", "model"}, nil)
)

// stateCollector reads the registries at scrape time.
type stateCollector struct {
	nodes   Nodes
	workers Workers
	log     *slog.Logger
}

// workerKey is one series of rbee_queen_workers.
type workerKey struct{ state, model string }

// Describe sends the descriptors of the state metrics.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- nodesDesc
	ch <- workersDesc
}

// Collect counts the nodes by status (every status, zeros included) and the
// workers by state and model.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectNodes(ch)
	counts := map[workerKey]int{}
	for w := range c.workers.All() {
		counts[workerKey{w.State, w.ModelRef}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(n), k.state, k.model)
	}
}

func (c *stateCollector) collectNodes(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	nodes, err := c.nodes.List(ctx)
	if err != nil {
		c.log.Warn("metrics: list nodes", "err", err)
		ch <- prometheus.NewInvalidMetric(nodesDesc, err)
		return
	}
	counts := map[string]int{}
	for _, st := range api.Statuses() {
		counts[st] = 0
	}
	for _, n := range nodes {
		counts[n.Status]++
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(n), st)
	}
}
