package server

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/queen/metrics"
	"github.com/rbee-fleet/rbee/queen/statuspage"
	"github.com/rbee-fleet/rbee/shared/api"
)

// newMetrics returns the queen's Prometheus metrics over its registries.
func (s *Server) newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Config{Nodes: s.cfg.Registry, Workers: s.workers, Logger: s.log,
		SSHHandshakes: s.handshakes.Load, GatewayQueues: func() map[string]int {
			if s.gateway == nil { // made after the metrics
				return nil
			}
			return s.gateway.QueueLengths()
		}, Lease: s.leaseState})
}

// statusPage returns the status page over the queen's registries,
// heartbeats and install phases, open to the admin token.
func (s *Server) statusPage() http.Handler {
	return statuspage.New(statuspage.Config{Nodes: s.cfg.Registry, Workers: s.workers,
		Hives: statusHives{s}, Connections: statusConns{s}, Installs: s.phases, CheckToken: s.isAdminToken, Now: s.cfg.Now, Logger: s.log})
}

// isAdminToken reports whether token is the admin token in force.
func (s *Server) isAdminToken(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(*s.adminToken.Load())) == 1
}

// statusHives gives the status page the last heartbeat of each agent.
type statusHives struct{ s *Server }

// Hive returns the last heartbeat of node's agent.
func (h statusHives) Hive(node string) (statuspage.Hive, bool) {
	b, ok := h.s.beats.last(node)
	if !ok || b.req.PID == 0 {
		return statuspage.Hive{}, false
	}
	head, _ := h.s.heads.get(node)
	return statuspage.Hive{LastBeat: b.at, AgentVersion: b.req.AgentVersion, Capabilities: b.req.Capabilities,
		Devices: pageDevices(h.s.beats.devicesOf(node)), BranchHead: head.commit}, true
}

// pageDevices turns a node's GPUs into the page's VRAM bars.
func pageDevices(d *api.Devices) []statuspage.Device {
	if d == nil || len(d.GPUs) == 0 {
		return nil
	}
	out := make([]statuspage.Device, len(d.GPUs))
	for i, g := range d.GPUs {
		out[i] = statuspage.Device{Name: fmt.Sprintf("cuda:%d %s", g.Index, g.Name), MemoryTotal: g.MemoryTotalByte, MemoryFree: g.MemoryFreeByte}
	}
	return out
}

// statusConns gives the status page the state of the pooled SSH
// connections.
type statusConns struct{ s *Server }

// Connection returns the state of the queen's SSH connection to node.
func (c statusConns) Connection(node string) statuspage.Connection {
	st := c.s.connection(node)
	return statuspage.Connection{Connected: st.Connected, LastError: st.LastError}
}

// installPhases keeps the phases of the last install of each node since
// the queen started, for the status page, and counts them in the metrics.
type installPhases struct {
	prom *metrics.Metrics
	mu   sync.Mutex
	runs map[string][]statuspage.Phase
}

func newInstallPhases(prom *metrics.Metrics) *installPhases {
	return &installPhases{prom: prom, runs: map[string][]statuspage.Phase{}}
}

// begin starts a new install of node.
func (p *installPhases) begin(node string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs[node] = nil
}

// report takes a line of the install's progress: a phase's start
// (elapsed 0) or its end (elapsed > 0).
func (p *installPhases) report(node, phase string, elapsed time.Duration) {
	if elapsed > 0 {
		p.prom.InstallPhase(phase, elapsed)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	run := p.runs[node]
	if n := len(run); n > 0 && run[n-1].Title == phase {
		if elapsed > 0 {
			run[n-1].Took, run[n-1].Running = elapsed, false
		}
		return
	}
	p.runs[node] = append(run, statuspage.Phase{Title: phase, Took: elapsed, Running: elapsed == 0})
}

// end records the install's result, and the phase it failed in.
func (p *installPhases) end(node, result, failedPhase string) {
	p.prom.InstallRun(result)
	p.mu.Lock()
	defer p.mu.Unlock()
	run := p.runs[node]
	for i := range run {
		run[i].Running = false
	}
	if failedPhase != "" {
		if n := len(run); n > 0 && run[n-1].Title == failedPhase {
			run[n-1].Failed = true
		} else {
			run = append(run, statuspage.Phase{Title: failedPhase, Failed: true})
		}
	}
	p.runs[node] = run
}

// LastPhases returns a copy of the phases of node's last install.
func (p *installPhases) LastPhases(node string) []statuspage.Phase {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]statuspage.Phase(nil), p.runs[node]...)
}
