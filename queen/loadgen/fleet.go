package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/hive-agent/relay"
	"github.com/rbee-fleet/rbee/shared/api"
)

// FleetConfig is a fleet of simulated agents that keep state between
// beats: their workers change, they relay worker events, and they beat
// under the delta protocol with the agent's own composer (relay.Deltas),
// or as old agents that send their whole list without a sequence number.
type FleetConfig struct {
	// BaseURL is the queen's base URL, e.g. http://127.0.0.1:7833.
	BaseURL string // required
	// Hives are the simulated hives.
	Hives []Hive // required
	// WorkersPerHive is how many workers every hive starts with.
	WorkersPerHive int
	// OldEvery makes every OldEvery-th hive (i%OldEvery == 0) an old
	// agent: its whole list with every beat, without Seq. 0: none; 1: all.
	OldEvery int
	// Concurrency is how many requests are in flight at once; 0 means 1.
	Concurrency int
	// Timeout bounds one request; 0 means 10 s.
	Timeout time.Duration
	// LoseAnswers is the share (0–1) of the queen's answers that delta
	// agents act as if lost: the queen applied the beat, the agent never
	// learns it.
	LoseAnswers float64
	// Seed seeds the fleet's random choices, so a run can be repeated.
	Seed uint64
}

// Churn is how a round changes the hives' workers before their beats.
type Churn struct {
	// Share is the share (0–1) of hives whose workers change before their
	// beat.
	Share float64
	// SlotsOnly changes only one worker's free slots, as a busy fleet
	// does between beats; else a change may also be a new state, a new
	// worker or a removed one.
	SlotsOnly bool
	// Events relays each change as the agent does (register, update or
	// remove) before the beat.
	Events bool
}

// RoundStats is what a round measured: the requests' Stats (events
// included) and how the queen answered the beats.
type RoundStats struct {
	Stats
	// Snapshots and Deltas count the beats sent of each kind.
	Snapshots, Deltas int
	// Acked counts the beats the queen acknowledged; NeedSnapshot those
	// it answered need_snapshot; Busy those turned away with 503.
	Acked, NeedSnapshot, Busy int
	// Events counts the worker events sent.
	Events int
}

// String is a one-line summary.
func (s RoundStats) String() string {
	return fmt.Sprintf("%v; %d snapshots, %d deltas, %d events; %d acked, %d need_snapshot, %d busy",
		s.Stats, s.Snapshots, s.Deltas, s.Events, s.Acked, s.NeedSnapshot, s.Busy)
}

// Fleet is a running set of simulated agents; create it with NewFleet.
type Fleet struct {
	cfg    FleetConfig
	client *http.Client
	hives  []*simHive
	mu     sync.Mutex // guards base
	base   string
}

// simHive is one simulated agent.
type simHive struct {
	mu      sync.Mutex
	i       int
	h       Hive
	old     bool
	facts   api.HeartbeatRequest
	workers []api.Worker // the truth, sorted by id
	deltas  *relay.Deltas
	next    int // the next new worker's number
	rng     *rand.Rand
	// settled: the last beat was applied as the agent's whole truth
	// (acknowledged, or an old agent's accepted snapshot).
	settled bool
}

// NewFleet returns a fleet of cfg's hives with WorkersPerHive workers each
// (those of Heartbeat); nothing is sent yet.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	if _, err := prepare(Config{BaseURL: cfg.BaseURL, Hives: cfg.Hives, WorkersPerHive: cfg.WorkersPerHive,
		Concurrency: cfg.Concurrency, Count: 1}); err != nil {
		return nil, err
	}
	conc := max(cfg.Concurrency, 1)
	f := &Fleet{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"),
		client: &http.Client{Transport: newTransport(conc), Timeout: orDefault(cfg.Timeout, defaultTimeout)}}
	for i, h := range cfg.Hives {
		req := Heartbeat(i, h, cfg.WorkersPerHive)
		sh := &simHive{i: i, h: h, old: cfg.OldEvery > 0 && i%cfg.OldEvery == 0, workers: req.Workers,
			deltas: relay.NewDeltas(api.SnapshotEvery), next: cfg.WorkersPerHive,
			rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)))}
		req.Workers = nil
		sh.facts = req
		f.hives = append(f.hives, sh)
	}
	return f, nil
}

// SetBaseURL points the fleet at another queen address, e.g. the queen
// restarted on another port.
func (f *Fleet) SetBaseURL(u string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.base = strings.TrimRight(u, "/")
}

func (f *Fleet) baseURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.base
}

// Close closes the fleet's idle connections.
func (f *Fleet) Close() { f.client.CloseIdleConnections() }

// Round beats every hive once, their starts spread evenly over spread (0:
// as fast as Concurrency allows), changing the workers of a share of them
// first as ch says, and returns what it measured.
func (f *Fleet) Round(ctx context.Context, spread time.Duration, ch Churn) (RoundStats, error) {
	jobs := make(chan *simHive)
	go func() {
		defer close(jobs)
		start := time.Now()
		for k, h := range f.hives {
			if spread > 0 {
				at := start.Add(time.Duration(int64(spread) * int64(k) / int64(len(f.hives))))
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
			}
			select {
			case jobs <- h:
			case <-ctx.Done():
				return
			}
		}
	}()
	conc := max(f.cfg.Concurrency, 1)
	outs := make([]roundOut, conc)
	start := time.Now()
	var wg sync.WaitGroup
	for k := range outs {
		wg.Go(func() {
			for h := range jobs {
				h.beat(ctx, f, ch, &outs[k])
			}
		})
	}
	wg.Wait()
	return sumRound(outs, time.Since(start)), ctx.Err()
}

// roundOut is what one loop of a round saw.
type roundOut struct {
	result
	RoundStats
}

func sumRound(outs []roundOut, wall time.Duration) RoundStats {
	var rs RoundStats
	results := make([]result, len(outs))
	for k, o := range outs {
		results[k] = o.result
		rs.Snapshots += o.Snapshots
		rs.Deltas += o.Deltas
		rs.Acked += o.Acked
		rs.NeedSnapshot += o.NeedSnapshot
		rs.Busy += o.Busy
		rs.Events += o.Events
	}
	rs.Stats = summarize(results, wall)
	return rs
}

// Settled reports whether every hive's last beat was applied as its whole
// truth: acknowledged for a delta agent, accepted for an old one.
func (f *Fleet) Settled() bool {
	for _, h := range f.hives {
		h.mu.Lock()
		ok := h.settled
		h.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// Truth returns every worker of the fleet as the agents hold them, sorted
// by id.
func (f *Fleet) Truth() []api.Worker {
	var all []api.Worker
	for _, h := range f.hives {
		h.mu.Lock()
		all = append(all, h.workers...)
		h.mu.Unlock()
	}
	slices.SortFunc(all, func(a, b api.Worker) int { return strings.Compare(a.ID, b.ID) })
	return all
}

// beat changes h's workers as ch says (for its share of hives), relays
// the change as an event when asked, and sends one heartbeat.
func (h *simHive) beat(ctx context.Context, f *Fleet, ch Churn, out *roundOut) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch.Share > 0 && h.rng.Float64() < ch.Share {
		ev := h.change(ch.SlotsOnly)
		if ch.Events {
			out.Events++
			h.deltas.Dirty(ev.id) // as the relay does for every event
			_ = out.timed(func() error { return f.event(ctx, h, ev) })
		}
	}
	req := h.facts
	snapshot := true
	if h.old {
		req.Workers = slices.Clone(h.workers)
	} else {
		snapshot = h.deltas.Next(&req, h.workers)
	}
	if snapshot {
		out.Snapshots++
	} else {
		out.Deltas++
	}
	var ans api.HeartbeatResponse
	err := out.timed(func() error {
		return f.post(ctx, h, http.MethodPost, "/v1/hives/"+url.PathEscape(h.h.Name)+"/heartbeat", req, &ans)
	})
	lost := err == nil && !h.old && h.rng.Float64() < f.cfg.LoseAnswers
	if !h.old {
		h.deltas.Answer(ans, err == nil && !lost)
	}
	h.tally(out, err, ans)
}

// tally counts how the queen answered a beat and notes whether the hive
// is settled.
func (h *simHive) tally(out *roundOut, err error, ans api.HeartbeatResponse) {
	var se *statusError
	switch {
	case errors.As(err, &se) && se.status == http.StatusServiceUnavailable:
		out.Busy++
	case err != nil:
	case ans.NeedSnapshot:
		out.NeedSnapshot++
	case ans.AckedSeq != 0:
		out.Acked++
	}
	h.settled = err == nil && (h.old || ans.AckedSeq != 0) && !ans.NeedSnapshot
}

// statusError is a non-2xx answer.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// post sends body (nil: none) as JSON with h's token and decodes a 2xx
// answer into ans (nil: discarded).
func (f *Fleet) post(ctx context.Context, h *simHive, method, path string, body, ans any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return err
		}
	}
	return send(ctx, f.client, method, f.baseURL()+path, "Bearer "+h.h.Token, data, ans)
}

// send sends one request with body (nil: none) as JSON and auth as its
// Authorization, and decodes a 2xx answer into ans (nil: read to its end
// and dropped, so the connection goes back to the pool); any other status
// is a *statusError.
func send(ctx context.Context, c *http.Client, method, url, auth string, body []byte, ans any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &statusError{status: resp.StatusCode,
			msg: fmt.Sprintf("%s %s: %s: %s", method, req.URL.Path, resp.Status, bytes.TrimSpace(msg))}
	}
	if ans == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(ans)
}
