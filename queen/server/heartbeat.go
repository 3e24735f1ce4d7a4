package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
)

// beat is what the queen keeps of a hive's last heartbeat: the agent's
// facts, the delta protocol's sequence number and a hash of an old
// agent's body; never the worker list, which lives in the worker
// registry only.
type beat struct {
	at time.Time
	// req is the last beat's agent facts (version, pid, start, listen,
	// capabilities) without Workers, Removed or Devices.
	req api.HeartbeatRequest
	// seq is the Seq of the last beat applied, to which a delta must be
	// relative: 0 when unknown (no beat of this agent process applied
	// since the queen started, or the queen dropped the node's workers
	// since), and a delta is then answered need_snapshot.
	seq uint64
	// hash is the hash of the last body of a beat without Seq (an old
	// agent sending its whole list every time), 0 for none: the same
	// bytes again only refresh the heartbeat times, while the node's
	// records still have sum (workerregistry.Sum) as that beat left them.
	hash, sum uint64
	// offline: the hive was marked not online since this beat (by the
	// stale check, hive stop or uninstall), so the next beat sets it online.
	offline bool
	// stopped: the queen stopped the agent since this beat, so the beat
	// no longer shows a running agent.
	stopped bool
}

// heartbeats tracks the hives' heartbeats in memory (they are ephemeral:
// after a restart the first beats rebuild it).
type heartbeats struct {
	mu    sync.Mutex
	beats map[string]beat
	// devices are the last devices each node's agent sent: beats carry
	// them only when they changed.
	devices map[string]*api.Devices
	changed chan struct{} // closed and replaced on every beat
	// nodes serialize the beats of one node, striped by name: a
	// sequence check and the registry change it allows happen as one.
	nodes [64]sync.Mutex
	// gate bounds the heartbeats handled at once.
	gate *gate
	seed maphash.Seed
}

func newHeartbeats() *heartbeats {
	return &heartbeats{beats: map[string]beat{}, devices: map[string]*api.Devices{}, changed: make(chan struct{}),
		gate: newGate(gateSlotsPerProc*runtime.GOMAXPROCS(0), gateWait), seed: maphash.MakeSeed()}
}

// devicesOf returns the last devices node's agent sent, nil when none
// came since the queen started.
func (h *heartbeats) devicesOf(node string) *api.Devices {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.devices[node]
}

// record stores a beat's facts (req without its worker fields) and, for a
// beat without Seq, the hash of its body. It returns the Seq of the last
// beat of this agent process the queen applied (0: unknown; a beat of
// another process, by pid or start time, makes it so) and reports whether
// the hive may be marked offline in the registry: no beat since the queen
// started, or the stale check marked it offline since the last one.
func (h *heartbeats) record(node string, at time.Time, req api.HeartbeatRequest, hash uint64) (known uint64, maybeOffline bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev, ok := h.beats[node]
	// sum stays what the last applied beat left until this one is applied.
	next := beat{at: at, req: agentFacts(prev.req, req), seq: prev.seq, hash: hash, sum: prev.sum}
	if req.PID != prev.req.PID || req.StartedUnix != prev.req.StartedUnix {
		next.seq = 0
	}
	h.beats[node] = next
	if req.Devices != nil {
		h.devices[node] = req.Devices
	}
	close(h.changed)
	h.changed = make(chan struct{})
	return next.seq, !ok || prev.offline
}

// agentFacts returns req without its worker fields and devices, sharing
// prev's strings when they are the same, so that a node's steady beats
// keep nothing new.
func agentFacts(prev, req api.HeartbeatRequest) api.HeartbeatRequest {
	req.Workers, req.Removed, req.Devices = nil, nil, nil
	req.Seq, req.Delta, req.BaseSeq = 0, false, 0
	if req.AgentVersion == prev.AgentVersion {
		req.AgentVersion = prev.AgentVersion
	}
	if req.Listen == prev.Listen {
		req.Listen = prev.Listen
	}
	if slices.Equal(req.Capabilities, prev.Capabilities) {
		req.Capabilities = prev.Capabilities
	}
	return req
}

// repeated returns the last beat's facts and the checksum of node's
// records it left when body hashes the same as the last accepted beat
// without Seq of node: an old agent whose workers did not change sends
// the same bytes every interval, and those were decoded, checked and
// applied already.
func (h *heartbeats) repeated(node string, hash uint64) (api.HeartbeatRequest, uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.beats[node]
	if !ok || b.hash == 0 || b.hash != hash {
		return api.HeartbeatRequest{}, 0, false
	}
	return b.req, b.sum, true
}

// setApplied stores seq as the last applied beat of node and sum as the
// checksum of the records it left (used only with a body hash).
func (h *heartbeats) setApplied(node string, seq, sum uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b, ok := h.beats[node]; ok {
		b.seq, b.sum = seq, sum
		h.beats[node] = b
	}
}

// unknown forgets what node's last beat left in the registry: its Seq and
// its body's hash, so that the next beat is applied in full.
func (h *heartbeats) unknown(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b, ok := h.beats[node]; ok {
		b.seq, b.hash, b.sum = 0, 0, 0
		h.beats[node] = b
	}
}

// nodeLock returns the lock that serializes node's beats.
func (h *heartbeats) nodeLock(node string) *sync.Mutex {
	return &h.nodes[maphash.String(h.seed, node)%uint64(len(h.nodes))]
}

// stopped notes that the queen stopped node's agent (hive stop,
// uninstall): its last beat no longer shows a running agent, and the next
// beat, of an agent started again, sets the hive online.
func (h *heartbeats) stopped(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b, ok := h.beats[node]; ok {
		b.offline, b.stopped = true, true
		b.seq, b.hash, b.sum = 0, 0, 0
		h.beats[node] = b
	}
}

// fromStopped reports whether a beat from process pid of node was sent by
// the agent that `hive stop` ended: the last beat before the stop had the
// same pid. A started agent is a new process.
func (h *heartbeats) fromStopped(node string, pid int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.beats[node]
	return ok && b.stopped && pid != 0 && b.req.PID == pid
}

// forget drops the beats of node (removed from the registry).
func (h *heartbeats) forget(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.beats, node)
	delete(h.devices, node)
}

// running returns the last beat of node when it shows a running agent: an
// agent's beat (with its pid), fresher than staleAfter, and neither marked
// stale nor followed by a stop.
func (h *heartbeats) running(node string, now time.Time, staleAfter time.Duration) (beat, bool) {
	b, ok := h.last(node)
	if !ok || b.req.PID == 0 || b.offline || b.stopped || now.Sub(b.at) > staleAfter {
		return beat{}, false
	}
	return b, true
}

func (h *heartbeats) last(node string) (beat, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.beats[node]
	return b, ok
}

// Await waits for a heartbeat of node that arrived after since from an agent
// process other than notPID (0: any). It implements install.Heartbeats.
func (h *heartbeats) Await(ctx context.Context, node string, since time.Time, notPID int) (api.HeartbeatRequest, error) {
	for {
		h.mu.Lock()
		b, ok := h.beats[node]
		changed := h.changed
		h.mu.Unlock()
		if ok && b.at.After(since) && b.req.PID != notPID && b.req.PID != 0 {
			return b.req, nil
		}
		select {
		case <-ctx.Done():
			return api.HeartbeatRequest{}, ctx.Err()
		case <-changed:
		}
	}
}

var _ install.Heartbeats = (*heartbeats)(nil)

// heartbeat takes an agent's heartbeat (POST /v1/hives/{name}/heartbeat),
// authenticated by the node's hive token, and makes the worker registry's
// entries of the node match the agent's list: a snapshot replaces them, a
// delta changes them (README: Heartbeat protocol). The answer acknowledges
// the beat's Seq when it was applied, or asks for a snapshot. A body the
// same as the node's last beat without Seq is neither decoded nor checked
// again. While as many beats as the gate allows are in flight, a beat
// that waited gateWait for a slot is answered 503 with Retry-After.
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := api.ValidateNodeName(name); err != nil {
		writeInvalid(w, err)
		return
	}
	if !s.beats.gate.enter(r.Context()) {
		writeBeatBusy(w, s.cfg.HeartbeatInterval)
		return
	}
	defer s.beats.gate.leave()
	if _, ok := s.authHive(w, r, name); !ok {
		return
	}
	in, ok := s.readBeat(w, r, name)
	if !ok {
		return
	}
	if s.beats.fromStopped(name, in.req.PID) {
		// Sent by the agent `hive stop` ended, before it ended: it shows
		// nothing that still runs.
		writeJSON(w, http.StatusOK, api.HeartbeatResponse{IntervalMS: s.cfg.HeartbeatInterval.Milliseconds()})
		return
	}
	ans := s.applyBeat(r.Context(), name, in)
	ans.IntervalMS = s.cfg.HeartbeatInterval.Milliseconds()
	ans.NeedDevices = s.beats.devicesOf(name) == nil
	writeJSON(w, http.StatusOK, ans)
}

// beatIn is a heartbeat as read: decoded and checked, or an old agent's
// body the same as its last one (repeat; req holds the facts kept).
type beatIn struct {
	req    api.HeartbeatRequest
	hash   uint64 // of the body, for a beat without Seq; else 0
	repeat bool
}

// readBeat reads the heartbeat of node: the kept facts again when the body
// hashes as the node's last one without Seq, else decoded and checked. On
// failure it has answered and returns false.
func (s *Server) readBeat(w http.ResponseWriter, r *http.Request, name string) (beatIn, bool) {
	body, err := readBody(w, r)
	hash := maphash.Bytes(s.beats.seed, body) | 1 // never 0: 0 is none
	if err == nil {
		// The records may have changed since (an event, the stale
		// check): then the body is applied again.
		if req, sum, ok := s.beats.repeated(name, hash); ok && s.workers.Sum(name) == sum {
			return beatIn{req: req, hash: hash, repeat: true}, true
		}
	}
	// decode answers a read error (413 for a body over the limit) as it
	// would have reading the body itself.
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
	var req api.HeartbeatRequest
	if !s.checkBeat(w, r, name, &req) {
		return beatIn{}, false
	}
	if req.Seq != 0 {
		hash = 0
	}
	return beatIn{req: req, hash: hash}, true
}

// readBody reads the body of r, at most maxBody bytes, into a slice of
// its size: in one read when the client declared the length (net/http
// ends the body there), else through a growing buffer.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, maxBody)
	if n := r.ContentLength; n > 0 && n <= maxBody {
		body := make([]byte, n)
		k, err := io.ReadFull(rd, body)
		return body[:k], err
	}
	return io.ReadAll(rd)
}

// errReader returns err, or io.EOF for nil.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}

// checkBeat decodes the heartbeat of node and checks its workers; on
// failure it has answered and returns false.
func (s *Server) checkBeat(w http.ResponseWriter, r *http.Request, name string, req *api.HeartbeatRequest) bool {
	if !decode(w, r, req) {
		return false
	}
	if err := api.ValidateBeatSeq(*req); err != nil {
		writeInvalid(w, err)
		return false
	}
	if req.Devices != nil {
		if err := api.ValidateDevices(*req.Devices); err != nil {
			writeInvalid(w, err)
			return false
		}
	}
	for i := range req.Workers {
		if err := api.ValidateWorker(req.Workers[i]); err != nil {
			writeInvalid(w, fmt.Errorf("workers[%d]: %w", i, err))
			return false
		}
		if n := req.Workers[i].Node; n != "" && n != name {
			writeError(w, http.StatusForbidden, api.ErrorDetail{Code: api.CodeForbidden,
				Message: "workers[" + strconv.Itoa(i) + "] names node " + n + ", not " + name,
				Hint:    "an agent reports only its own workers"})
			return false
		}
	}
	return true
}

// markOnline turns a hive online on a beat, which shows its agent runs:
// from offline, stopped (an agent started by hand), installed, or
// reachable with an agent URL (update-node resets the status). Install
// sets online itself, and a failed install stays failed while an old
// agent keeps beating.
func (s *Server) markOnline(ctx context.Context, name string) {
	n, err := s.cfg.Registry.Get(ctx, name)
	if err != nil || !beatMakesOnline(n) {
		return
	}
	now := s.cfg.Now()
	// Only from the status read above: a stop written meanwhile stays.
	if _, err := s.cfg.Registry.SetStatusFrom(ctx, name, n.Status, api.StatusOnline, &now); err != nil {
		s.log.Warn("mark hive online", "node", name, "err", err)
	}
}

// beatMakesOnline reports whether a beat of n's agent turns n online.
func beatMakesOnline(n api.Node) bool {
	switch n.Status {
	case api.StatusOffline, api.StatusStopped, api.StatusInstalled:
		return true
	case api.StatusReachable:
		return n.AgentURL != ""
	}
	return false
}

// Run marks hives offline when their heartbeats stop for StaleAfter, and
// runs the gateway (its routing table and idle timeout), until ctx ends. Hives online when the queen starts get StaleAfter from then;
// only online hives go offline, so a stopped hive stays stopped across
// restarts until a beat shows its agent again.
func (s *Server) Run(ctx context.Context) {
	go s.gateway.Run(ctx)
	now := s.cfg.Now()
	if nodes, err := s.cfg.Registry.List(ctx); err == nil {
		for _, n := range nodes {
			if n.Status == api.StatusOnline {
				s.beats.record(n.NodeName, now, api.HeartbeatRequest{}, 0)
			}
		}
	}
	s.keepInstalled(ctx)
	go s.driftLoop(ctx)
	defer s.forwards.closeAll()
	defer s.pool.Close()
	tick := time.NewTicker(min(s.cfg.StaleAfter/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.markStale(ctx)
		}
	}
}

func (s *Server) markStale(ctx context.Context) {
	now := s.cfg.Now()
	var stale []string
	s.beats.mu.Lock()
	for name, b := range s.beats.beats {
		if !b.offline && now.Sub(b.at) > s.cfg.StaleAfter {
			b.offline = true
			s.beats.beats[name] = b
			stale = append(stale, name)
		}
	}
	s.beats.mu.Unlock()
	for _, name := range stale {
		if gone := s.forgetWorkers(name); gone > 0 {
			s.log.Warn("hive silent, removing its workers", "node", name, "workers", gone, "stale_after", s.cfg.StaleAfter)
		}
		n, err := s.cfg.Registry.Get(ctx, name)
		if errors.Is(err, hiveregistry.ErrNotFound) || err != nil || n.Status != api.StatusOnline {
			continue
		}
		// Only while still online: a stop written meanwhile stays.
		done, err := s.cfg.Registry.SetStatusFrom(ctx, name, api.StatusOnline, api.StatusOffline, nil)
		if err != nil {
			s.log.Warn("mark hive offline", "node", name, "err", err)
			continue
		}
		if !done {
			continue
		}
		s.log.Warn("hive silent, marked offline", "node", name, "stale_after", s.cfg.StaleAfter)
		// A beat that came in while the status was written found the hive
		// still online: flag it again so the next beat turns it online.
		s.beats.mu.Lock()
		if b, ok := s.beats.beats[name]; ok && !b.offline {
			b.offline = true
			s.beats.beats[name] = b
		}
		s.beats.mu.Unlock()
	}
}

// agentStopped forgets what the queen knew of node's running agent after
// the queen stopped it: its workers, and its last beat as a sign of life.
func (s *Server) agentStopped(node string) {
	s.beats.stopped(node)
	if gone := s.forgetWorkers(node); gone > 0 {
		s.log.Info("workers of the stopped agent forgotten", "node", node, "workers", gone)
	}
}

// setStatus sets node's status, logging a failure: the operation that
// called it already happened on the node.
func (s *Server) setStatus(ctx context.Context, node, status string) {
	if err := s.cfg.Registry.SetStatus(ctx, node, status, nil); err != nil {
		s.log.Warn("record hive status", "node", node, "status", status, "err", err)
	}
}
