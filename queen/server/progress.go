package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// progress reports one long operation: as NDJSON events when the client
// asked for them (Accept: application/x-ndjson), and always to the log. The
// operation ends with exactly one call of succeed or fail.
type progress struct {
	mu     sync.Mutex // nodes of one install report at once
	w      http.ResponseWriter
	rc     *http.ResponseController
	stream bool
	node   string // what the events name as their node; "" shows as [queen]
	log    *slog.Logger
	now    func() time.Time
	// beforeEnd, if set, runs before the final answer goes out (e.g. to
	// release the node's reservation).
	beforeEnd func()
}

func (s *Server) newProgress(w http.ResponseWriter, r *http.Request, node string) *progress {
	log := s.log
	if node != "" {
		log = log.With("node", node)
	}
	return &progress{
		w: w, rc: http.NewResponseController(w), node: node, log: log, now: s.cfg.Now,
		stream: strings.Contains(r.Header.Get("Accept"), api.ContentTypeNDJSON),
	}
}

// begin starts the stream; call it once the request is known to be valid,
// so that 4xx answers for bad input keep their status code.
func (p *progress) begin() {
	if !p.stream {
		return
	}
	p.w.Header().Set("Content-Type", api.ContentTypeNDJSON)
	p.w.WriteHeader(http.StatusOK)
}

// event reports a step; attempt and attempts are 0 unless the step is retried.
func (p *progress) event(level, phase, msg string, attempt, attempts int) {
	p.log.Info(msg, "phase", phase, "level", level)
	p.send(api.Event{TimeUnixMS: p.now().UnixMilli(), Level: level, Node: p.node, Phase: phase,
		Message: msg, Attempt: attempt, Attempts: attempts})
}

// nodeEvent reports a step of one node of a multi-node operation.
func (p *progress) nodeEvent(node, level, phase, msg string, elapsed time.Duration) {
	log := p.log
	if node != p.node {
		log = log.With("node", node)
	}
	log.Info(msg, "phase", phase, "level", level, "elapsed_ms", elapsed.Milliseconds())
	p.send(api.Event{TimeUnixMS: p.now().UnixMilli(), Level: level, Node: node, Phase: phase,
		Message: msg, ElapsedMS: elapsed.Milliseconds()})
}

func (p *progress) succeed(status int, msg string, result any) {
	p.end()
	p.log.Info(msg)
	if !p.stream {
		writeJSON(p.w, status, result)
		return
	}
	ev, err := api.ResultEvent(p.now().UnixMilli(), p.node, msg, result)
	if err != nil {
		ev = api.ErrorEvent(p.now().UnixMilli(), p.node, api.ErrorDetail{Code: api.CodeInternal, Message: err.Error()})
	}
	p.send(ev)
}

// fail ends the operation with d; a REGISTRY_BUSY answer that is not
// streamed gets Retry-After: 1.
func (p *progress) fail(status int, d api.ErrorDetail) {
	p.end()
	p.log.Warn(d.Message, "code", d.Code)
	if !p.stream {
		if d.Code == api.CodeRegistryBusy {
			p.w.Header().Set("Retry-After", "1")
		}
		writeError(p.w, status, d)
		return
	}
	p.send(api.ErrorEvent(p.now().UnixMilli(), p.node, d))
}

func (p *progress) end() {
	if p.beforeEnd != nil {
		p.beforeEnd()
	}
}

func (p *progress) send(ev api.Event) {
	if !p.stream {
		return
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = p.w.Write(append(line, '\n'))
	_ = p.rc.Flush()
}
