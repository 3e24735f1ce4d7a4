package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
)

// beat is the last heartbeat of a hive.
type beat struct {
	at      time.Time
	req     api.HeartbeatRequest
	offline bool // the stale check marked the hive offline since this beat
}

// heartbeats tracks the hives' heartbeats in memory (they are ephemeral:
// after a restart the first beats rebuild it).
type heartbeats struct {
	mu      sync.Mutex
	beats   map[string]beat
	changed chan struct{} // closed and replaced on every beat
}

func newHeartbeats() *heartbeats {
	return &heartbeats{beats: map[string]beat{}, changed: make(chan struct{})}
}

func (h *heartbeats) record(node string, at time.Time, req api.HeartbeatRequest) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beats[node] = beat{at: at, req: req}
	close(h.changed)
	h.changed = make(chan struct{})
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
// authenticated by the node's hive token.
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := api.ValidateNodeName(name); err != nil {
		writeInvalid(w, err)
		return
	}
	if !s.hiveTokenOK(r, name) {
		writeError(w, http.StatusUnauthorized, api.ErrorDetail{Code: api.CodeUnauthorized,
			Message: "missing or wrong hive token for node " + name,
			Hint:    "re-run `queen setup install --node " + name + "` to give the agent a new token"})
		return
	}
	var req api.HeartbeatRequest
	if !decode(w, r, &req) {
		return
	}
	s.beats.record(name, s.cfg.Now(), req)
	s.markOnline(r.Context(), name)
	writeJSON(w, http.StatusOK, api.HeartbeatResponse{IntervalMS: s.cfg.HeartbeatInterval.Milliseconds()})
}

// hiveTokenOK checks the bearer token against the hash kept for name.
func (s *Server) hiveTokenOK(r *http.Request, name string) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return false
	}
	want, err := s.cfg.Registry.HiveTokenHash(r.Context(), name)
	if err != nil || want == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(install.HashToken(token)), []byte(want)) == 1
}

// markOnline turns an offline hive online again; install and start set
// online themselves, and a failed install stays failed while an old agent
// keeps beating.
func (s *Server) markOnline(ctx context.Context, name string) {
	n, err := s.cfg.Registry.Get(ctx, name)
	if err != nil || n.Status != api.StatusOffline {
		return
	}
	now := s.cfg.Now()
	if err := s.cfg.Registry.SetStatus(ctx, name, api.StatusOnline, &now); err != nil {
		s.log.Warn("mark hive online", "node", name, "err", err)
	}
}

// Run marks hives offline when their heartbeats stop for StaleAfter, until
// ctx ends. Hives online when the queen starts get StaleAfter from then.
func (s *Server) Run(ctx context.Context) {
	now := s.cfg.Now()
	if nodes, err := s.cfg.Registry.List(ctx); err == nil {
		for _, n := range nodes {
			if n.Status == api.StatusOnline {
				s.beats.record(n.NodeName, now, api.HeartbeatRequest{})
			}
		}
	}
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
		n, err := s.cfg.Registry.Get(ctx, name)
		if errors.Is(err, hiveregistry.ErrNotFound) || err != nil || n.Status != api.StatusOnline {
			continue
		}
		s.log.Warn("hive silent, marking offline", "node", name, "stale_after", s.cfg.StaleAfter)
		if err := s.cfg.Registry.SetStatus(ctx, name, api.StatusOffline, nil); err != nil {
			s.log.Warn("mark hive offline", "node", name, "err", err)
		}
	}
}
