package server

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Bounds of the heartbeat gate: at most gateSlotsPerProc × GOMAXPROCS
// beats are handled at once (a beat is CPU work; more in flight only
// queue for the CPUs and time out at the agents), and a beat that finds
// no slot within gateWait is answered 503 with Retry-After.
const (
	gateSlotsPerProc = 8
	gateWait         = 250 * time.Millisecond
)

// applyBeat records a read heartbeat of node and applies its workers to
// the registry, under the node's lock, and returns the answer's sequence
// fields: AckedSeq when applied, NeedSnapshot when a delta could not be.
func (s *Server) applyBeat(ctx context.Context, name string, in beatIn) api.HeartbeatResponse {
	lock := s.beats.nodeLock(name)
	lock.Lock()
	now := s.cfg.Now()
	known, maybeOffline := s.beats.record(name, now, in.req, in.hash)
	var ans api.HeartbeatResponse
	switch {
	case in.repeat:
		s.workers.Touch(name, now)
	case in.req.Delta:
		ans = s.applyDelta(name, in.req, known, now)
	default:
		ans = s.applySnapshot(name, in.req, known, now)
	}
	lock.Unlock()
	if maybeOffline {
		s.markOnline(ctx, name)
	}
	return ans
}

// applySnapshot makes node's records the beat's list, unless the beat is
// one of this agent's that a later applied beat superseded (a duplicate,
// or one delivered late). known is the last applied Seq (0: unknown).
func (s *Server) applySnapshot(name string, req api.HeartbeatRequest, known uint64, now time.Time) api.HeartbeatResponse {
	if req.Seq != 0 && req.Seq <= known {
		return superseded(req.Seq, known)
	}
	added, removed, conflicts := s.workers.Reconcile(name, req.Workers, now)
	s.logApplied(name, added, removed, conflicts)
	var sum uint64
	if req.Seq == 0 {
		sum = s.workers.Sum(name)
	}
	s.beats.setApplied(name, req.Seq, sum)
	return api.HeartbeatResponse{AckedSeq: req.Seq}
}

// applyDelta applies the beat's changes to node's records. When the queen
// knows the delta's base (it applied BaseSeq or a later beat of the same
// agent) the beat is acknowledged; else its changes, the agent's truth,
// are applied all the same and the answer asks for a snapshot.
func (s *Server) applyDelta(name string, req api.HeartbeatRequest, known uint64, now time.Time) api.HeartbeatResponse {
	if known != 0 && req.Seq <= known {
		return superseded(req.Seq, known)
	}
	added, removed, conflicts := s.workers.ApplyDelta(name, req.Workers, req.Removed, now)
	s.logApplied(name, added, removed, conflicts)
	if known == 0 || req.BaseSeq > known {
		return api.HeartbeatResponse{NeedSnapshot: true}
	}
	s.beats.setApplied(name, req.Seq, 0)
	return api.HeartbeatResponse{AckedSeq: req.Seq}
}

// superseded answers a beat not newer than the last applied one: applied
// already when it is that one (a retry whose first answer was lost), else
// left out.
func superseded(seq, known uint64) api.HeartbeatResponse {
	if seq == known {
		return api.HeartbeatResponse{AckedSeq: seq}
	}
	return api.HeartbeatResponse{}
}

// logApplied logs what a beat changed in node's records.
func (s *Server) logApplied(name string, added, removed int, conflicts []string) {
	if added+removed > 0 {
		s.log.Info("worker registry reconciled with heartbeat", "node", name, "added", added, "removed", removed)
	}
	if len(conflicts) > 0 {
		s.log.Warn("heartbeat reports worker ids another node holds; skipped", "node", name, "workers", conflicts)
	}
}

// forgetWorkers drops node's workers from the registry and makes its beat
// sequence unknown, as one step against its beats: the next delta is
// answered need_snapshot. It returns how many workers there were.
func (s *Server) forgetWorkers(node string) int {
	lock := s.beats.nodeLock(node)
	lock.Lock()
	defer lock.Unlock()
	n := s.workers.RemoveNode(node)
	s.beats.unknown(node)
	return n
}

// gate bounds the heartbeats handled at once.
type gate struct {
	slots chan struct{}
	wait  time.Duration
}

func newGate(n int, wait time.Duration) *gate {
	return &gate{slots: make(chan struct{}, max(n, 1)), wait: wait}
}

// enter takes a slot, waiting up to g.wait, and reports whether it got
// one; the caller that got one calls leave.
func (g *gate) enter(ctx context.Context) bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// leave gives back a slot.
func (g *gate) leave() { <-g.slots }

// writeBeatBusy answers a heartbeat the gate turned away: 503 with a
// Retry-After picked at random from 1 s to the heartbeat interval, so
// that the agents turned away together come back spread.
func writeBeatBusy(w http.ResponseWriter, interval time.Duration) {
	secs := max(int(interval/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(1+rand.N(secs)))
	writeError(w, http.StatusServiceUnavailable, api.ErrorDetail{Code: api.CodeQueenBusy,
		Message: "the queen is handling as many heartbeats as it can at once; nothing was applied",
		Hint:    "the agent sends again after Retry-After; if this lasts, give the queen more CPU or a longer --heartbeat-interval"})
}
