// Package loadgen drives a queen with heartbeats of simulated hives, the
// way a fleet of hive agents would, and measures what it takes: requests,
// errors, rate and latency. Benchmarks use it to size the queen's
// heartbeat path (see the README).
//
// Run sends fixed bodies: every hive's body is encoded once, before the
// clock starts, so the generator spends its time on HTTP, not on JSON. Its
// beats carry no Seq: the queen takes them as old agents' snapshots.
//
// A Fleet simulates agents that keep state: each hive's workers change
// between beats (Churn: free slots, states, new and removed workers,
// relayed as worker events like the agent does), and each beats under
// the delta protocol with the agent's own composer (relay.Deltas) or, for
// every OldEvery-th hive, as an old agent with its whole list. A Round
// beats every hive once, paced over a spread (one heartbeat interval for
// the real rate) or as fast as Concurrency allows, and counts the
// queen's answers (acknowledged, need_snapshot, busy). Truth is what the
// agents hold; Diff compares it with what the queen lists (ListWorkers,
// which follows next_cursor when the queen pages).
package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// defaultTimeout bounds one request when Config.Timeout is 0.
const defaultTimeout = 10 * time.Second

// Hive is one simulated hive: the node's name in the queen's registry and
// its hive token (in clear; the queen holds its hash).
type Hive struct {
	Name  string
	Token string
}

// Config is one load run.
type Config struct {
	// BaseURL is the queen's base URL, e.g. http://127.0.0.1:7833.
	BaseURL string // required
	// Hives are the simulated hives; requests go to them round-robin.
	Hives []Hive // required
	// WorkersPerHive is how many workers every heartbeat carries.
	WorkersPerHive int
	// Concurrency is how many requests are in flight at once, each on its
	// own keep-alive connection; 0 means 1.
	Concurrency int
	// Duration ends the run once it has passed: no request starts after
	// it, requests in flight finish. 0 means no time limit.
	Duration time.Duration
	// Count ends the run after this many requests; 0 means no limit. At
	// least one of Duration and Count must be set.
	Count int
	// Timeout bounds one request; 0 means 10 s.
	Timeout time.Duration
	// Churn makes every heartbeat of a hive differ from its previous one,
	// as when a worker's free slots change between beats: each hive's
	// body alternates between Heartbeat's and one where its first worker
	// has a slot fewer available. It needs WorkersPerHive ≥ 1.
	Churn bool
}

// Stats is what a run measured.
type Stats struct {
	// Requests counts the requests sent; Errors those that failed (a
	// transport error or a non-2xx answer).
	Requests int
	Errors   int
	// FirstError is the first failure, for the report; nil when Errors is 0.
	FirstError error
	// Duration is the wall time from the first request to the end of the
	// last one.
	Duration time.Duration
	// PerSecond is the successful requests per second of Duration.
	PerSecond float64
	// P50 and P99 are latency percentiles over every request, failed ones
	// included; Max is the slowest.
	P50, P99, Max time.Duration
	// Latencies are every request's latency, sorted; Merge uses them.
	Latencies []time.Duration
}

// String is a one-line summary.
func (s Stats) String() string {
	return fmt.Sprintf("%d requests (%d errors) in %v: %.0f/s, p50 %v, p99 %v, max %v",
		s.Requests, s.Errors, s.Duration.Round(time.Millisecond), s.PerSecond, s.P50, s.P99, s.Max)
}

// Run sends heartbeats as cfg says until its Duration or Count is reached
// or ctx ends, and returns what it measured. A cancelled ctx returns the
// stats so far with ctx's error; failed requests are counted, not
// returned.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	reqs, err := prepare(cfg)
	if err != nil {
		return Stats{}, err
	}
	conc := max(cfg.Concurrency, 1)
	transport := newTransport(conc)
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: orDefault(cfg.Timeout, defaultTimeout)}

	g := &generator{ctx: ctx, client: client, reqs: reqs, count: int64(cfg.Count)}
	start := time.Now()
	if cfg.Duration > 0 {
		g.deadline = start.Add(cfg.Duration)
	}
	results := make([]result, conc)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = g.loop() })
	}
	wg.Wait()
	st := summarize(results, time.Since(start))
	return st, ctx.Err()
}

// prepare checks cfg and encodes every hive's request once.
func prepare(cfg Config) ([]request, error) {
	base, err := url.Parse(cfg.BaseURL)
	switch {
	case err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "":
		return nil, fmt.Errorf("loadgen: base URL %q must be an http:// URL with a host, e.g. http://127.0.0.1:7833", cfg.BaseURL)
	case len(cfg.Hives) == 0:
		return nil, errors.New("loadgen: no hives; give at least one")
	case cfg.Duration <= 0 && cfg.Count <= 0:
		return nil, errors.New("loadgen: neither Duration nor Count is set; the run would not end")
	case cfg.WorkersPerHive < 0 || cfg.Concurrency < 0 || cfg.Count < 0:
		return nil, errors.New("loadgen: WorkersPerHive, Concurrency and Count must not be negative")
	case cfg.Churn && cfg.WorkersPerHive == 0:
		return nil, errors.New("loadgen: Churn changes a worker; set WorkersPerHive to 1 or more")
	}
	prefix := strings.TrimRight(cfg.BaseURL, "/") + "/v1/hives/"
	reqs := make([]request, len(cfg.Hives))
	for i, h := range cfg.Hives {
		req := Heartbeat(i, h, cfg.WorkersPerHive)
		body, err := json.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("loadgen: encode heartbeat of %s: %w", h.Name, err)
		}
		reqs[i] = request{url: prefix + url.PathEscape(h.Name) + "/heartbeat", auth: "Bearer " + h.Token,
			bodies: [2][]byte{body, body}}
		if cfg.Churn {
			req.Workers[0].SlotsAvailable--
			if reqs[i].bodies[1], err = json.Marshal(req); err != nil {
				return nil, fmt.Errorf("loadgen: encode heartbeat of %s: %w", h.Name, err)
			}
		}
	}
	return reqs, nil
}

// newTransport keeps one idle connection per in-flight request, so every
// request after the first few reuses a connection.
func newTransport(conc int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// request is one hive's heartbeat, ready to send: its n-th beat has
// bodies[n%2].
type request struct {
	url, auth string
	bodies    [2][]byte
}

// generator hands out requests to the concurrent loops.
type generator struct {
	ctx      context.Context
	client   *http.Client
	reqs     []request
	deadline time.Time // zero: none
	count    int64     // 0: none
	next     atomic.Int64
}

// result is what one loop saw.
type result struct {
	latencies []time.Duration
	errors    int
	firstErr  error
}

// loop sends requests until the run ends.
func (g *generator) loop() result {
	var res result
	for g.ctx.Err() == nil {
		n := g.next.Add(1) - 1
		if g.count > 0 && n >= g.count {
			break
		}
		if !g.deadline.IsZero() && !time.Now().Before(g.deadline) {
			break
		}
		hives := int64(len(g.reqs))
		r := &g.reqs[n%hives]
		res.timed(func() error { return g.send(r.url, r.auth, r.bodies[(n/hives)%2]) })
	}
	return res
}

// timed runs send, recording its latency and failure.
func (res *result) timed(send func() error) error {
	began := time.Now()
	err := send()
	res.latencies = append(res.latencies, time.Since(began))
	if err != nil {
		res.errors++
		if res.firstErr == nil {
			res.firstErr = err
		}
	}
	return err
}

// send posts one heartbeat and reads the whole answer, so the connection
// goes back to the pool.
func (g *generator) send(target, auth string, body []byte) error {
	return send(g.ctx, g.client, http.MethodPost, target, auth, body, nil)
}
