package relay

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/httpjson"
)

// TestDeltasSequence walks one agent through the protocol: what each beat
// carries given the answers before it.
func TestDeltasSequence(t *testing.T) {
	w := func(id string, free int) api.Worker {
		return api.Worker{ID: id, State: api.WorkerIdle, SlotsTotal: 4, SlotsAvailable: free}
	}
	ack := func(seq uint64) *api.HeartbeatResponse { return &api.HeartbeatResponse{AckedSeq: seq} }
	steps := []struct {
		name        string
		dirty       string
		workers     []api.Worker
		answer      *api.HeartbeatResponse // nil: none came
		wantDelta   bool
		wantBase    uint64
		wantWorkers []string
		wantRemoved []string
	}{
		{name: "first beat is a snapshot", workers: []api.Worker{w("a", 4), w("b", 4)}, answer: ack(1),
			wantWorkers: []string{"a", "b"}},
		{name: "nothing changed", workers: []api.Worker{w("a", 4), w("b", 4)}, answer: ack(2),
			wantDelta: true, wantBase: 1},
		{name: "changed, new and gone; answer lost", workers: []api.Worker{w("a", 3), w("c", 4)},
			wantDelta: true, wantBase: 2, wantWorkers: []string{"a", "c"}, wantRemoved: []string{"b"}},
		{name: "the unacknowledged beat's changes go again", workers: []api.Worker{w("a", 3), w("c", 4)}, answer: ack(4),
			wantDelta: true, wantBase: 2, wantWorkers: []string{"a", "c"}, wantRemoved: []string{"b"}},
		{name: "queen restarted", workers: []api.Worker{w("a", 3), w("c", 4)}, answer: &api.HeartbeatResponse{NeedSnapshot: true},
			wantDelta: true, wantBase: 4},
		{name: "snapshot asked for", workers: []api.Worker{w("a", 3), w("c", 4)}, answer: ack(6),
			wantWorkers: []string{"a", "c"}},
		{name: "an event's worker goes along", dirty: "a", workers: []api.Worker{w("a", 3), w("c", 4)}, answer: ack(7),
			wantDelta: true, wantBase: 6, wantWorkers: []string{"a"}},
		{name: "an event's worker that is gone is removed", dirty: "d", workers: []api.Worker{w("a", 3), w("c", 4)}, answer: ack(8),
			wantDelta: true, wantBase: 7, wantRemoved: []string{"d"}},
		{name: "acknowledged: the event is done", workers: []api.Worker{w("a", 3), w("c", 4)}, answer: ack(9),
			wantDelta: true, wantBase: 8},
	}
	d := NewDeltas(0)
	for i, st := range steps {
		if st.dirty != "" {
			d.Dirty(st.dirty)
		}
		var beat api.HeartbeatRequest
		snapshot := d.Next(&beat, st.workers)
		var ids []string
		for _, w := range beat.Workers {
			ids = append(ids, w.ID)
		}
		if beat.Seq != uint64(i+1) || snapshot == st.wantDelta || beat.Delta != st.wantDelta || beat.BaseSeq != st.wantBase ||
			!slices.Equal(ids, st.wantWorkers) || !slices.Equal(beat.Removed, st.wantRemoved) {
			t.Errorf("%s: seq %d delta %v base %d workers %v removed %v; want seq %d delta %v base %d workers %v removed %v",
				st.name, beat.Seq, beat.Delta, beat.BaseSeq, ids, beat.Removed,
				i+1, st.wantDelta, st.wantBase, st.wantWorkers, st.wantRemoved)
		}
		if err := api.ValidateBeatSeq(beat); err != nil {
			t.Errorf("%s: the beat is not valid: %v", st.name, err)
		}
		if st.answer != nil {
			d.Answer(*st.answer, true)
		} else {
			d.Answer(api.HeartbeatResponse{}, false)
		}
	}
}

func TestDeltasSnapshotEveryN(t *testing.T) {
	d := NewDeltas(3)
	var kinds []bool
	for range 7 {
		var beat api.HeartbeatRequest
		kinds = append(kinds, d.Next(&beat, nil))
		d.Answer(api.HeartbeatResponse{AckedSeq: beat.Seq}, true)
	}
	if want := []bool{true, false, false, true, false, false, true}; !slices.Equal(kinds, want) {
		t.Errorf("snapshot per beat %v, want %v", kinds, want)
	}
}

// TestDeltasWithAnOldQueen: a queen that never acknowledges (it predates
// the protocol) gets a whole list every time, never a delta it would take
// for the whole list.
func TestDeltasWithAnOldQueen(t *testing.T) {
	d := NewDeltas(0)
	for range 3 {
		var beat api.HeartbeatRequest
		if !d.Next(&beat, []api.Worker{{ID: "a"}}) || len(beat.Workers) != 1 {
			t.Fatalf("beat %+v, want a snapshot with the worker", beat)
		}
		d.Answer(api.HeartbeatResponse{IntervalMS: 5000}, true)
	}
}

func TestScheduleAfter(t *testing.T) {
	const interval = 2 * time.Second
	busy := &StatusError{StatusCode: http.StatusServiceUnavailable, RetryAfter: 3 * time.Second}
	tests := []struct {
		name     string
		err      error
		snapshot bool
		lo, hi   time.Duration
	}{
		{name: "accepted", lo: interval - interval/10, hi: interval},
		{name: "snapshot asked for", snapshot: true, lo: MinInterval, hi: interval},
		{name: "queen unreachable", err: errors.New("connection refused"), lo: MinInterval, hi: interval},
		{name: "busy with Retry-After", err: busy, lo: 3 * time.Second, hi: 6 * time.Second},
		{name: "busy without Retry-After", err: &StatusError{StatusCode: http.StatusServiceUnavailable}, lo: MinInterval, hi: interval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				s := schedule{interval: interval}
				d := s.after(tt.err, tt.snapshot)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("wait %v, want within [%v, %v]", d, tt.lo, tt.hi)
				}
				seen[d] = true
			}
			if len(seen) < 100 {
				t.Errorf("%d different waits in 200, want them spread at random", len(seen))
			}
		})
	}
}

// TestSendHonoursRetryAfter: a busy queen's 503 with Retry-After is not
// retried at once (it would add to the storm); Send returns it with the
// wait the queen asked for.
func TestSendHonoursRetryAfter(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Retry-After", "4")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	hb := newTestHeartbeat(t, srv.URL, slog.New(slog.DiscardHandler))
	_, err := hb.Send(t.Context())
	se, ok := errors.AsType[*StatusError](err)
	if !ok || se.StatusCode != http.StatusServiceUnavailable || se.RetryAfter != 4*time.Second || !IsBusy(err) {
		t.Fatalf("Send: %v, want a 503 StatusError with RetryAfter 4s", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the queen got %d requests, want 1: no retry before Retry-After", n)
	}
}

// TestDeltasManyGoneSendsASnapshot: more removed ids than a delta may name
// (api.MaxRemoved) go as a snapshot instead, not as a beat the queen
// would refuse every time.
func TestDeltasManyGoneSendsASnapshot(t *testing.T) {
	d := NewDeltas(0)
	many := make([]api.Worker, api.MaxRemoved+1)
	for i := range many {
		many[i] = api.Worker{ID: "w-" + strconv.Itoa(i)}
	}
	var beat api.HeartbeatRequest
	d.Next(&beat, many)
	d.Answer(api.HeartbeatResponse{AckedSeq: beat.Seq}, true)
	beat = api.HeartbeatRequest{}
	if !d.Next(&beat, nil) || beat.Delta || len(beat.Removed) != 0 || beat.Seq != 2 {
		t.Fatalf("beat seq %d delta %v with %d removed, want snapshot seq 2", beat.Seq, beat.Delta, len(beat.Removed))
	}
	if err := api.ValidateBeatSeq(beat); err != nil {
		t.Error(err)
	}
}

// TestSendToAnOlderQueen: a queen older than the delta protocol refuses
// the seq field as unknown (it decodes strictly); the relay sends the beat
// again as the whole list without seq, and the beats after it too.
func TestSendToAnOlderQueen(t *testing.T) {
	var withSeq, without atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var old struct {
			AgentVersion string       `json:"agent_version"`
			PID          int          `json:"pid"`
			StartedUnix  int64        `json:"started_unix"`
			Listen       string       `json:"listen"`
			Capabilities []string     `json:"capabilities,omitempty"`
			Workers      []api.Worker `json:"workers"`
			Devices      *api.Devices `json:"devices,omitempty"`
		}
		if !httpjson.Decode(w, r, &old) {
			withSeq.Add(1)
			return
		}
		without.Add(1)
		httpjson.Write(w, http.StatusOK, api.HeartbeatResponse{IntervalMS: 5000})
	}))
	t.Cleanup(srv.Close)
	hb := newTestHeartbeat(t, srv.URL, slog.New(slog.DiscardHandler))
	for i := range 3 {
		if _, err := hb.Send(t.Context()); err != nil {
			t.Fatalf("beat %d: %v", i, err)
		}
	}
	if withSeq.Load() != 1 || without.Load() != 3 {
		t.Errorf("the old queen got %d beats with seq and %d without, want 1 and 3", withSeq.Load(), without.Load())
	}
}
