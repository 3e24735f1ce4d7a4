package relay

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// haQueen is one queen of an HA pair as the relay sees it: active, it
// acknowledges every beat (or asks for a snapshot of a delta whose base it
// does not know, as a queen that just took over does); standby, it answers
// 503 STANDBY naming the queen in active.
type haQueen struct {
	srv     *httptest.Server
	active  atomic.Pointer[string] // nil: active; else the URL a standby names ("": none)
	mu      sync.Mutex
	beats   []api.HeartbeatRequest // beats it accepted
	auths   []string               // Authorization of every request
	applied uint64                 // Seq of the last beat applied
}

func newHAQueen(t *testing.T) *haQueen {
	t.Helper()
	q := &haQueen{}
	q.srv = httptest.NewServer(http.HandlerFunc(q.serve))
	t.Cleanup(q.srv.Close)
	return q
}

// standby makes q a standby naming active ("": none).
func (q *haQueen) standby(active string) { q.active.Store(&active) }

func (q *haQueen) serve(w http.ResponseWriter, r *http.Request) {
	var body api.HeartbeatRequest
	_ = json.NewDecoder(r.Body).Decode(&body)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.auths = append(q.auths, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	if active := q.active.Load(); active != nil {
		if *active != "" {
			w.Header().Set(api.HeaderActiveQueen, *active)
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeStandby, Message: "this queen is standby"}})
		return
	}
	q.beats = append(q.beats, body)
	ans := api.HeartbeatResponse{IntervalMS: testInterval.Milliseconds()}
	if body.Delta && (q.applied == 0 || body.BaseSeq > q.applied) {
		ans.NeedSnapshot = true
	} else {
		q.applied, ans.AckedSeq = body.Seq, body.Seq
	}
	_ = json.NewEncoder(w).Encode(ans)
}

// accepted returns the beats q accepted.
func (q *haQueen) accepted() []api.HeartbeatRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]api.HeartbeatRequest(nil), q.beats...)
}

// requests counts the requests q got.
func (q *haQueen) requests() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.auths)
}

// newPairRelay returns a relay whose config lists queens, logging to logs.
func newPairRelay(t *testing.T, logs *syncBuffer, workers []api.Worker, queens ...string) *Relay {
	t.Helper()
	rl, err := New(Config{QueenURL: queens[0], QueenURLs: queens, NodeName: "gpu-1", Token: testToken,
		Beat:     api.HeartbeatRequest{AgentVersion: "abc123def456", PID: 4321, Listen: "0.0.0.0:7835"},
		Snapshot: func() []api.Worker { return workers },
		Devices:  func() api.Devices { return api.Devices{Capabilities: []string{"cpu"}} },
	}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

// TestFailoverFollowsActiveInList: a standby naming a queen of the list
// sends the beat there at once, as a snapshot with the devices (the new
// queen knows nothing of the agent's deltas), and later beats stay there;
// the switch is logged once.
func TestFailoverFollowsActiveInList(t *testing.T) {
	a, b := newHAQueen(t), newHAQueen(t)
	logs := &syncBuffer{}
	workers := []api.Worker{{ID: "w1", Node: "gpu-1"}}
	rl := newPairRelay(t, logs, workers, a.srv.URL, b.srv.URL)
	for range 3 { // a snapshot, then deltas that a acknowledges
		if _, err := rl.Send(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.accepted(); len(got) != 3 || !got[2].Delta {
		t.Fatalf("queen a accepted %d beats (last delta %v), want 3 ending with a delta", len(got), len(got) > 0 && got[len(got)-1].Delta)
	}
	a.standby(b.srv.URL + "/")
	for range 2 {
		if _, err := rl.Send(t.Context()); err != nil {
			t.Fatalf("Send after a became standby: %v", err)
		}
	}
	got := b.accepted()
	if len(got) != 2 {
		t.Fatalf("queen b accepted %d beats, want 2", len(got))
	}
	if got[0].Delta || len(got[0].Workers) != 1 || got[0].Devices == nil {
		t.Errorf("first beat to the new queen: delta %v, %d workers, devices %v; want a snapshot of 1 worker with the devices",
			got[0].Delta, len(got[0].Workers), got[0].Devices != nil)
	}
	if !got[1].Delta || got[1].BaseSeq != got[0].Seq {
		t.Errorf("second beat to the new queen: delta %v base %d; want a delta on the snapshot %d", got[1].Delta, got[1].BaseSeq, got[0].Seq)
	}
	if n := a.requests(); n != 4 {
		t.Errorf("queen a got %d requests, want 4: 3 beats and the one it turned away", n)
	}
	want := "queen at " + a.srv.URL + " is standby; following the active queen at " + b.srv.URL
	if n := strings.Count(logs.String(), want); n != 1 {
		t.Errorf("log has %q %d times, want once:\n%s", want, n, logs)
	}
}

// TestFailoverNewQueenAsksSnapshot: a queen the relay comes back to
// without a switch of its own (the same URL, a new process behind it)
// answers need_snapshot to a delta; the next beat is a snapshot it
// acknowledges.
func TestFailoverNewQueenAsksSnapshot(t *testing.T) {
	a := newHAQueen(t)
	rl := newPairRelay(t, &syncBuffer{}, []api.Worker{{ID: "w1", Node: "gpu-1"}}, a.srv.URL)
	for range 2 {
		if _, err := rl.Send(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	a.mu.Lock()
	a.applied = 0 // a new queen behind the same URL
	a.mu.Unlock()
	ans, err := rl.Send(t.Context())
	if err != nil || !ans.NeedSnapshot {
		t.Fatalf("delta to a new queen: %+v %v; want need_snapshot", ans, err)
	}
	if ans, err = rl.Send(t.Context()); err != nil || ans.AckedSeq == 0 {
		t.Fatalf("beat after need_snapshot: %+v %v; want acknowledged", ans, err)
	}
	if got := a.accepted(); got[len(got)-1].Delta || len(got[len(got)-1].Workers) != 1 {
		t.Errorf("beat after need_snapshot is a delta or lacks the worker: %+v", got[len(got)-1])
	}
}

// TestFailoverNeverLeavesList: a standby naming a URL outside the list
// never gets that URL a request (the hive token stays with the configured
// queens); the relay tries the next queen of its list instead.
func TestFailoverNeverLeavesList(t *testing.T) {
	tests := []struct {
		name   string
		queens int // 1: a alone; 2: a and b
	}{
		{name: "a list of one", queens: 1},
		{name: "a pair", queens: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, evil := newHAQueen(t), newHAQueen(t), newHAQueen(t)
			a.standby(evil.srv.URL)
			list := []string{a.srv.URL, b.srv.URL}[:tt.queens]
			rl := newPairRelay(t, &syncBuffer{}, nil, list...)
			_, err := rl.Send(t.Context())
			if !IsStandby(err) {
				t.Fatalf("Send to a standby naming a stranger: %v, want a STANDBY error", err)
			}
			_, err = rl.Send(t.Context())
			if tt.queens == 2 && (err != nil || len(b.accepted()) != 1) {
				t.Errorf("second beat: %v, b accepted %d; want the next queen of the list", err, len(b.accepted()))
			}
			if n := evil.requests(); n != 0 {
				t.Errorf("the URL outside the list got %d requests (the hive token with them), want 0", n)
			}
		})
	}
}

// TestFailoverRotatesOnRefused: a queen that refuses connections moves
// the relay to the next queen of the list, round robin.
func TestFailoverRotatesOnRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	b := newHAQueen(t)
	logs := &syncBuffer{}
	rl := newPairRelay(t, logs, nil, dead, b.srv.URL)
	if _, err := rl.Send(t.Context()); err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if _, err := rl.Send(t.Context()); err != nil || len(b.accepted()) != 1 {
		t.Fatalf("second beat: %v, b accepted %d; want the next queen", err, len(b.accepted()))
	}
	if !strings.Contains(logs.String(), "queen at "+dead+" unreachable; trying the next queen at "+b.srv.URL) {
		t.Errorf("log lacks the rotation:\n%s", logs)
	}
	b.srv.Close()
	if _, err := rl.Send(t.Context()); err == nil {
		t.Fatal("Send to a closed queen succeeded")
	}
	rl.mu.Lock()
	cur := rl.queens[rl.cur]
	rl.mu.Unlock()
	if cur != dead {
		t.Errorf("after b went away the relay points at %s, want %s (round robin)", cur, dead)
	}
}

// TestNewRefusesUnixWithList: the ssh transport's socket is the only queen.
func TestNewRefusesUnixWithList(t *testing.T) {
	_, err := New(Config{QueenURL: "unix:///opt/rbee/run/queen.sock", QueenURLs: []string{"http://10.0.0.9:7833"}, NodeName: "gpu-1"},
		slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "queen_urls") {
		t.Errorf("New with a unix socket and a list: %v, want an error naming queen_urls", err)
	}
}
