package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Health check thresholds, in failed checks in a row.
const (
	// unhealthyAfter failed checks make a ready worker unhealthy.
	unhealthyAfter = 3
	// replaceAfter failed checks get an unhealthy worker killed, so that
	// its backend's restart policy replaces it; with policy never it
	// stays unhealthy.
	replaceAfter = 2 * unhealthyAfter
	// maxHealthBody bounds how much of a health answer is read.
	maxHealthBody = 64 << 10
)

// healthReport is what a health answer may say about the worker's slots;
// nil fields were not in it (or it was not JSON).
type healthReport struct {
	SlotsTotal     *int `json:"slots_total"`
	SlotsAvailable *int `json:"slots_available"`
}

// setHealthURL sets the URL the health checks GET: backend's health_url
// expanded with values, else the worker's own URL + /health.
func (p *proc) setHealthURL(backend api.Backend, values map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.healthURL = p.w.URL + "/health"
	if backend.HealthURL != "" {
		p.healthURL = expand(backend.HealthURL, values)
	}
}

// healthCheckURL returns the URL the health checks GET.
func (p *proc) healthCheckURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.healthURL
}

// watchHealth checks p's health every interval until p is stopped or gone:
// failures in a row make it unhealthy and then get it replaced; answers
// update its slots and its state (idle, busy).
func (s *Supervisor) watchHealth(p *proc) {
	client := &http.Client{Timeout: s.cfg.HealthTimeout}
	url := p.healthCheckURL()
	tick := time.NewTicker(s.cfg.HealthInterval)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-p.gone:
			return
		case <-p.stopped:
			return
		case <-tick.C:
		}
		rep, err := probe(client, url)
		if err != nil {
			failures++
			s.healthFailed(p, failures, err)
			continue
		}
		failures = 0
		s.healthOK(p, rep)
	}
}

// probe GETs url and returns what a 2xx answer says about the slots.
func probe(client *http.Client, url string) (healthReport, error) {
	var rep healthReport
	resp, err := client.Get(url)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return rep, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return rep, fmt.Errorf("GET %s: read answer: %w", url, err)
	}
	if json.Unmarshal(body, &rep) != nil {
		return healthReport{}, nil // healthy, but says nothing about slots
	}
	return rep, nil
}

// healthFailed counts the n-th failed check in a row of p.
func (s *Supervisor) healthFailed(p *proc, n int, err error) {
	w := p.record()
	s.log.Debug("worker health check failed", "worker", w.ID, "failures", n, "err", err)
	switch n {
	case unhealthyAfter:
		if w, ok := p.setReadyState(api.WorkerUnhealthy, w.SlotsTotal, w.SlotsAvailable); ok {
			s.log.Warn(fmt.Sprintf("worker unhealthy: %d health checks in a row failed", n),
				"worker", w.ID, "pid", w.PID, "url", p.healthCheckURL(), "err", err)
			s.relayUpdate(context.Background(), w)
		}
	case replaceAfter:
		if b, ok := s.configured(w.Backend); ok && b.RestartPolicy() == api.RestartOnFailure {
			p.kill(fmt.Sprintf("unhealthy, %d health checks in a row failed (last: %v)", n, err))
		}
	}
}

// healthOK applies a successful check of p: its slots from rep where it
// has them, and the state they give.
func (s *Supervisor) healthOK(p *proc, rep healthReport) {
	old := p.record()
	total, free := old.SlotsTotal, old.SlotsAvailable
	if rep.SlotsTotal != nil && *rep.SlotsTotal > 0 {
		total = min(*rep.SlotsTotal, maxReportedSlots)
	}
	if rep.SlotsAvailable != nil {
		free = *rep.SlotsAvailable
	}
	free = min(max(free, 0), total)
	state := api.WorkerIdle
	if free == 0 {
		state = api.WorkerBusy
	}
	w, ok := p.setReadyState(state, total, free)
	if !ok || (w.State == old.State && w.SlotsTotal == old.SlotsTotal && w.SlotsAvailable == old.SlotsAvailable) {
		return
	}
	if w.State != old.State {
		s.log.Info("worker "+w.State, "worker", w.ID, "was", old.State, "slots_available", free, "slots_total", total)
	}
	s.relayUpdate(context.Background(), w)
}

// maxReportedSlots bounds the slots a health answer may report (the
// queen's limit).
const maxReportedSlots = 4096

// setReadyState sets the state and slots of a ready worker (idle, busy or
// unhealthy) and returns its record; ok is false, and nothing changes,
// when p is in any other state (loading, stopping, failed).
func (p *proc) setReadyState(state string, total, free int) (w api.Worker, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.w.State {
	case api.WorkerIdle, api.WorkerBusy, api.WorkerUnhealthy:
	default:
		return api.Worker{}, false
	}
	p.w.State, p.w.SlotsTotal, p.w.SlotsAvailable = state, total, free
	return p.w, true
}
