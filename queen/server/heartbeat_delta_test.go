package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/hive-agent/relay"
	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/loadgen"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// TestDeltaBeatsMatchTheTruthUnderFaults is a property test of the
// heartbeat protocol against a real queen on loopback: random sequences of
// worker changes (relayed as events, some of them lost, some not relayed
// at all), delta beats and snapshots from three agents (one of them an
// old agent without seq), lost requests, lost answers, beats duplicated or
// delayed and delivered late (after later beats and events), queen
// restarts (a fresh worker registry) and agent restarts. After every beat
// the queen acknowledged, and at the end, the queen lists for each node
// exactly the agent's workers: every field, no ghost, no duplicate.
func TestDeltaBeatsMatchTheTruthUnderFaults(t *testing.T) {
	sequences, steps := 40, 150
	if testing.Short() || raceEnabled {
		sequences, steps = 12, 100
	}
	reg := openRouteRegistry(t)
	creds := []hiveCreds{addHive(t, reg, "prop-a", api.StatusOnline), addHive(t, reg, "prop-b", api.StatusOnline),
		addHive(t, reg, "prop-old", api.StatusOnline)}
	for seed := range sequences {
		p := newPropRun(t, reg, creds, uint64(seed))
		for range steps {
			p.step()
		}
		p.settle()
		for _, a := range p.agents {
			p.check(a, "at the end")
		}
		p.q.close()
		if t.Failed() {
			t.Fatalf("sequence %d failed; its steps:\n%s", seed, strings.Join(p.log, "\n"))
		}
	}
}

// propRun is one random sequence.
type propRun struct {
	t      *testing.T
	reg    *hiveregistry.Registry
	rng    *rand.Rand
	q      *routeQueen
	agents []*propAgent
	// late are beats sent but held back by the network, delivered later.
	late []lateBeat
	log  []string
}

type lateBeat struct {
	a    *propAgent
	body []byte
}

// propAgent is one agent as the test models it: its workers (the truth)
// and the composer the real agent uses.
type propAgent struct {
	creds   hiveCreds
	old     bool
	pid     int
	workers []api.Worker // sorted by id
	deltas  *relay.Deltas
	next    int
}

func newPropRun(t *testing.T, reg *hiveregistry.Registry, creds []hiveCreds, seed uint64) *propRun {
	p := &propRun{t: t, reg: reg, rng: rand.New(rand.NewPCG(seed, 14))}
	p.q = p.startQueen()
	for i, c := range creds {
		p.agents = append(p.agents, &propAgent{creds: c, old: i == 2, pid: 100 + i, deltas: relay.NewDeltas(8)})
	}
	return p
}

func (p *propRun) startQueen() *routeQueen {
	return startRouteQueen(p.t, p.reg, server.Config{Logger: slog.New(slog.DiscardHandler), StaleAfter: time.Hour})
}

func (p *propRun) logf(format string, a ...any) { p.log = append(p.log, fmt.Sprintf(format, a...)) }

// step does one random thing.
func (p *propRun) step() {
	a := p.agents[p.rng.IntN(len(p.agents))]
	switch r := p.rng.IntN(100); {
	case r < 35:
		p.change(a, true)
	case r < 45:
		p.change(a, false)
	case r < 85:
		p.beat(a)
	case r < 93:
		p.deliverLate()
	case r < 96:
		p.logf("queen restarts")
		p.q.close()
		p.q = p.startQueen()
	default:
		p.logf("%s: agent restarts", a.creds.name)
		a.pid += 10
		a.deltas = relay.NewDeltas(8)
	}
}

// change changes one of a's workers and relays the change as an event
// when relayed (and the network does not lose it).
func (p *propRun) change(a *propAgent, relayed bool) {
	kind, w := a.mutate(p.rng)
	if !relayed {
		p.logf("%s: %s %s, not relayed", a.creds.name, kind, w.ID)
		return
	}
	if p.rng.IntN(5) == 0 {
		p.logf("%s: %s %s, event lost", a.creds.name, kind, w.ID)
		a.deltas.Dirty(w.ID) // as the relay does for every event
		return
	}
	p.logf("%s: %s %s, event relayed", a.creds.name, kind, w.ID)
	a.deltas.Dirty(w.ID) // as the relay does for every event
	var status int
	switch kind {
	case "remove":
		status = p.send(a, http.MethodDelete, "/v1/workers/"+url.PathEscape(w.ID), nil, nil)
	case "update":
		u := api.UpdateWorkerRequest{ID: w.ID, State: w.State, SlotsAvailable: &w.SlotsAvailable}
		if status = p.send(a, http.MethodPost, "/v1/workers/update", mustJSON(p.t, u), nil); status == http.StatusNotFound {
			status = p.send(a, http.MethodPost, "/v1/workers/register", mustJSON(p.t, w), nil)
		}
	default:
		status = p.send(a, http.MethodPost, "/v1/workers/register", mustJSON(p.t, w), nil)
	}
	if status/100 != 2 && status != http.StatusNotFound {
		p.t.Errorf("%s: event %s %s answered %d", a.creds.name, kind, w.ID, status)
	}
}

// mutate changes a's workers at random and returns what it did and the
// worker concerned.
func (a *propAgent) mutate(rng *rand.Rand) (string, api.Worker) {
	r := rng.IntN(100)
	if len(a.workers) == 0 || r < 25 {
		w := propWorker(a.creds.name, a.next, rng)
		a.next++
		a.workers = append(a.workers, w)
		slices.SortFunc(a.workers, func(x, y api.Worker) int { return strings.Compare(x.ID, y.ID) })
		return "register", w
	}
	j := rng.IntN(len(a.workers))
	if r < 45 {
		w := a.workers[j]
		a.workers = slices.Delete(a.workers, j, j+1)
		return "remove", w
	}
	w := &a.workers[j]
	w.SlotsAvailable = rng.IntN(w.SlotsTotal + 1)
	w.State = []string{api.WorkerIdle, api.WorkerBusy}[rng.IntN(2)]
	return "update", *w
}

func propWorker(node string, n int, rng *rand.Rand) api.Worker {
	return api.Worker{ID: fmt.Sprintf("%s-w%d", node, n), Node: node, URL: fmt.Sprintf("http://127.0.0.1:%d", 9000+n%900),
		ModelRef: modelTiny, Backend: api.BackendCPU, State: api.WorkerIdle, SlotsTotal: 4, SlotsAvailable: rng.IntN(5),
		PID: 3000 + n, StartedUnix: 1_760_000_000 + int64(n)}
}

// beat composes a's next beat and sends it through a faulty network: the
// request or the answer may be lost, the beat duplicated or delayed (both
// delivered later). After a beat the queen acknowledged, its records of
// the node must be the truth.
func (p *propRun) beat(a *propAgent) {
	req := api.HeartbeatRequest{AgentVersion: "prop", PID: a.pid, StartedUnix: int64(a.pid), Listen: "127.0.0.1:7835"}
	if a.old {
		req.Workers = slices.Clone(a.workers)
		if req.Workers == nil {
			req.Workers = []api.Worker{}
		}
	} else {
		a.deltas.Next(&req, a.workers)
	}
	body := mustJSON(p.t, req)
	fault := "none"
	if !a.old {
		fault = []string{"none", "none", "none", "none", "none", "none", "request lost", "answer lost", "duplicated", "delayed"}[p.rng.IntN(10)]
	}
	p.logf("%s: beat seq %d delta %v base %d workers %d removed %v: %s", a.creds.name, req.Seq, req.Delta, req.BaseSeq,
		len(req.Workers), req.Removed, fault)
	var ans api.HeartbeatResponse
	switch fault {
	case "request lost":
	case "delayed":
		p.late = append(p.late, lateBeat{a: a, body: body})
	default:
		if st := p.send(a, http.MethodPost, beatPath(a), body, &ans); st != http.StatusOK {
			p.t.Fatalf("%s: beat answered %d", a.creds.name, st)
		}
		if fault == "duplicated" {
			p.late = append(p.late, lateBeat{a: a, body: body})
		}
	}
	delivered := fault == "none" || fault == "duplicated"
	if !a.old {
		a.deltas.Answer(ans, delivered)
	}
	if delivered && (a.old || ans.AckedSeq == req.Seq) {
		p.check(a, fmt.Sprintf("after beat seq %d", req.Seq))
	}
}

// deliverLate delivers one held-back beat; its answer goes nowhere.
func (p *propRun) deliverLate() {
	if len(p.late) == 0 {
		return
	}
	i := p.rng.IntN(len(p.late))
	lb := p.late[i]
	p.late = slices.Delete(p.late, i, i+1)
	var req api.HeartbeatRequest
	_ = json.Unmarshal(lb.body, &req)
	p.logf("%s: late beat seq %d delivered", lb.a.creds.name, req.Seq)
	p.send(lb.a, http.MethodPost, beatPath(lb.a), lb.body, nil)
}

// settle drops what the network still holds and beats every agent until
// the queen acknowledged a beat of each (old agents: once).
func (p *propRun) settle() {
	p.late = nil
	for _, a := range p.agents {
		for i := 0; ; i++ {
			if i == 3 {
				p.t.Errorf("%s: no beat acknowledged in 3 tries", a.creds.name)
				break
			}
			req := api.HeartbeatRequest{AgentVersion: "prop", PID: a.pid, StartedUnix: int64(a.pid), Listen: "127.0.0.1:7835"}
			if a.old {
				req.Workers = append([]api.Worker{}, a.workers...)
				p.send(a, http.MethodPost, beatPath(a), mustJSON(p.t, req), nil)
				break
			}
			a.deltas.Next(&req, a.workers)
			var ans api.HeartbeatResponse
			p.send(a, http.MethodPost, beatPath(a), mustJSON(p.t, req), &ans)
			a.deltas.Answer(ans, true)
			if ans.AckedSeq == req.Seq {
				break
			}
		}
	}
}

// check fails unless the queen lists exactly a's workers for its node.
func (p *propRun) check(a *propAgent, when string) {
	p.t.Helper()
	listed, err := loadgen.ListWorkers(p.t.Context(), p.q.url, token, "node="+a.creds.name)
	if err != nil {
		p.t.Fatal(err)
	}
	if diff := loadgen.Diff(a.workers, listed, 5); len(diff) > 0 {
		p.t.Errorf("%s, %s: %v", a.creds.name, when, diff)
	}
}

func beatPath(a *propAgent) string { return "/v1/hives/" + a.creds.name + "/heartbeat" }

// send sends body with a's hive token and decodes a 200 answer into ans
// (nil: discarded); it returns the status.
func (p *propRun) send(a *propAgent, method, path string, body []byte, ans any) int {
	req, err := http.NewRequestWithContext(p.t.Context(), method, p.q.url+path, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.creds.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.q.client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ans != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, ans); err != nil {
			p.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestHeartbeatRefusesBadSequence: a beat whose sequence fields do not
// make sense is refused with 400 naming the field, and changes nothing.
func TestHeartbeatRefusesBadSequence(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{Logger: slog.New(slog.DiscardHandler)})
	h := addHive(t, reg, "gpu-seq", api.StatusOnline)
	w := routeWorker("seq-1", api.BackendCPU, 0, modelTiny, api.WorkerIdle)
	tests := []struct {
		name  string
		beat  api.HeartbeatRequest
		field string
	}{
		{name: "delta without base", beat: api.HeartbeatRequest{Seq: 2, Delta: true, Workers: []api.Worker{w}}, field: "base_seq"},
		{name: "delta with base not before seq", beat: api.HeartbeatRequest{Seq: 2, BaseSeq: 2, Delta: true}, field: "base_seq"},
		{name: "delta without seq", beat: api.HeartbeatRequest{BaseSeq: 1, Delta: true}, field: "base_seq"},
		{name: "snapshot with base", beat: api.HeartbeatRequest{Seq: 3, BaseSeq: 1, Workers: []api.Worker{w}}, field: "base_seq"},
		{name: "snapshot with removed ids", beat: api.HeartbeatRequest{Seq: 3, Removed: []string{"seq-1"}}, field: "removed"},
		{name: "removed id not valid", beat: api.HeartbeatRequest{Seq: 3, BaseSeq: 1, Delta: true, Removed: []string{"../x"}}, field: "worker_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.beat.PID = 7
			r := q.must(t, "POST", "/v1/hives/gpu-seq/heartbeat", bearerAuth(h.token), tt.beat)
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tt.field) {
				t.Errorf("answer %d %s, want 400 naming %s", r.status, r.body, tt.field)
			}
			if got := q.list(t, ""); len(got) != 0 {
				t.Errorf("a refused beat changed the registry: %v", workerKeys(got))
			}
		})
	}
}
