package server

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"

	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// listWorkers is GET /v1/workers/list?node=&model=&capability=&state=&limit=&cursor=:
// one page of the workers that pass the filter, in list order (node, then
// id), as an [api.WorkerPage]. The registry copies the page (at most
// limit records) under its read lock; the lock is released before the
// first byte is written, so a slow reader never holds up heartbeats. The
// page is then encoded worker by worker through a small buffer: no answer
// is built whole in memory.
func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := api.WorkerFilter{Node: q.Get("node"), Model: q.Get("model"), Capability: q.Get("capability"), State: q.Get("state")}.Canonical()
	if err := f.Validate(); err != nil {
		writeInvalid(w, err)
		return
	}
	limit, after, ok := pageOf(w, q)
	if !ok {
		return
	}
	buf := pageBufs.Get().(*[]api.Worker)
	defer putPageBuf(buf)
	page, more := s.workers.Page(f, after, limit, (*buf)[:0])
	*buf = page
	next := ""
	if more {
		last := page[len(page)-1]
		next = api.WorkerCursor(last.Node, last.ID)
	}
	if err := writeWorkerPage(w, page, next); err != nil {
		s.log.Debug("worker list not sent whole", "err", err)
	}
}

// pageOf reads the limit and cursor parameters, or answers 400 itself.
func pageOf(w http.ResponseWriter, q url.Values) (int, workerregistry.Position, bool) {
	limit, err := api.ParseWorkerPageLimit(q.Get("limit"))
	if err != nil {
		writeError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidField, Message: err.Error(),
			Hint: "leave limit out for pages of 500, or follow next_cursor for more than 5000 workers"})
		return 0, workerregistry.Position{}, false
	}
	var after workerregistry.Position
	if c := q.Get("cursor"); c != "" {
		after.Node, after.ID, err = api.ParseWorkerCursor(c)
		if err != nil { // wraps api.ErrInvalidCursor

			writeError(w, http.StatusBadRequest, api.ErrorDetail{Code: api.CodeInvalidCursor, Message: err.Error(), Hint: api.WorkerCursorHint})
			return 0, workerregistry.Position{}, false
		}
	}
	return limit, after, true
}

// pageBufs recycles the page copies of listWorkers.
var pageBufs = sync.Pool{New: func() any { return new([]api.Worker) }}

// putPageBuf returns buf to pageBufs with its records cleared, so a pooled
// page pins no exit code.
func putPageBuf(buf *[]api.Worker) {
	clear(*buf)
	*buf = (*buf)[:0]
	pageBufs.Put(buf)
}

// pageWriters recycles the 32 KiB write buffers of writeWorkerPage.
var pageWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// writeWorkerPage answers 200 with page as an api.WorkerPage, encoding one
// worker at a time through a pooled 32 KiB buffer.
func writeWorkerPage(w http.ResponseWriter, page []api.Worker, next string) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := pageWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() { bw.Reset(nil); pageWriters.Put(bw) }()
	enc := json.NewEncoder(bw)
	bw.WriteString(`{"workers":[`)
	for i := range page {
		if i > 0 {
			bw.WriteByte(',')
		}
		if err := enc.Encode(&page[i]); err != nil {
			return err
		}
	}
	// A cursor is base64url: nothing in it needs escaping.
	bw.WriteString(`],"next_cursor":"` + next + "\"}\n")
	return bw.Flush()
}
