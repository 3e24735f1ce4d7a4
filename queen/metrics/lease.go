package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LeaseState is the queen's part in an HA pair, read at scrape time.
type LeaseState struct {
	Role  string        // "active" or "standby"
	Epoch int64         // the lease epoch (0 on SQLite)
	Age   time.Duration // since the active queen last renewed
}

// leaseRoles are the values of rbee_queen_role's label, each always sent.
var leaseRoles = []string{"active", "standby"}

var (
	roleDesc = prometheus.NewDesc("rbee_queen_role",
		"1 for the role this queen has (active or standby), 0 for the other.", []string{"role"}, nil)
	epochDesc = prometheus.NewDesc("rbee_queen_lease_epoch",
		"The lease epoch: the active queen's own, or the last one a standby saw.", nil, nil)
	leaseAgeDesc = prometheus.NewDesc("rbee_queen_lease_age_seconds",
		"Time since the active queen last renewed the lease, as this queen saw it.", nil, nil)
)

// leaseCollector reads the lease at scrape time.
type leaseCollector struct{ state func() LeaseState }

// Describe sends the lease metrics' descriptors.
func (c *leaseCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- roleDesc
	ch <- epochDesc
	ch <- leaseAgeDesc
}

// Collect sends the role, epoch and lease age.
func (c *leaseCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.state()
	for _, r := range leaseRoles {
		v := 0.0
		if r == st.Role {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(roleDesc, prometheus.GaugeValue, v, r)
	}
	ch <- prometheus.MustNewConstMetric(epochDesc, prometheus.GaugeValue, float64(st.Epoch))
	ch <- prometheus.MustNewConstMetric(leaseAgeDesc, prometheus.GaugeValue, st.Age.Seconds())
}
