package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/rbee-fleet/rbee/shared/api"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// Health statuses of GET /health.
const (
	healthOK      = "ok"
	healthLoading = "loading"
)

// OpenAI error types and our codes in the error body of /v1/completions.
const (
	errTypeInvalidRequest = "invalid_request_error"
	errTypeServer         = "server_error"

	codeInvalidJSON  = "invalid_json"
	codeInvalidField = "invalid_field"
	codeBodyTooLarge = "body_too_large"
	codeModelLoading = "model_loading"
	codeSlotsBusy    = "slots_busy"
)

func (w *worker) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", w.handleHealth)
	mux.HandleFunc("POST /v1/completions", w.handleCompletions)
	mux.HandleFunc("POST /v1/chat/completions", w.handleChat)
	return mux
}

// healthBody is the answer of GET /health.
type healthBody struct {
	// Status is "ok" when ready, "loading" before.
	Status string `json:"status"`
	// State is the worker state: loading, idle or busy (every slot taken).
	State          string `json:"state"`
	SlotsTotal     int    `json:"slots_total"`
	SlotsAvailable int    `json:"slots_available"`
}

// handleHealth answers 200 when ready and 503 while loading, so an agent
// that polls a health URL sees readiness without the callback.
func (w *worker) handleHealth(rw http.ResponseWriter, _ *http.Request) {
	free := cap(w.slots) - len(w.slots)
	body := healthBody{Status: healthOK, State: api.WorkerIdle, SlotsTotal: cap(w.slots), SlotsAvailable: free}
	code := http.StatusOK
	switch {
	case !w.ready.Load():
		body.Status, body.State, code = healthLoading, api.WorkerLoading, http.StatusServiceUnavailable
	case free == 0:
		body.State = api.WorkerBusy
	}
	writeJSON(rw, code, body)
}

// handleCompletions answers an OpenAI-style text completion, as one JSON
// answer or, with "stream": true, as server-sent events.
func (w *worker) handleCompletions(rw http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if !w.admit(rw, r, &req) {
		return
	}
	defer func() { <-w.slots }()
	if d := w.cfg.CompletionDelay; d > 0 && sleep(r.Context(), d) != nil {
		return // the caller went away; nobody reads an answer
	}
	if req.Stream {
		w.streamCompletion(rw, r, req)
		return
	}
	writeJSON(rw, http.StatusOK, w.complete(req))
}

// handleChat answers an OpenAI-style chat completion, as one JSON answer
// or, with "stream": true, as server-sent events.
func (w *worker) handleChat(rw http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if !w.admit(rw, r, &req) {
		return
	}
	defer func() { <-w.slots }()
	if d := w.cfg.CompletionDelay; d > 0 && sleep(r.Context(), d) != nil {
		return
	}
	if req.Stream {
		w.streamChat(rw, r, req)
		return
	}
	writeJSON(rw, http.StatusOK, w.chat(req))
}

// validator is a request body with rules beyond its JSON shape.
type validator interface{ validate() error }

// admit checks readiness, decodes the body into req and takes a slot; it
// answers the error itself and returns false when any of them fails. A
// request that finds every slot taken gets 503 at once: there is no queue,
// the caller (or the queen's gateway) picks another worker or retries.
func (w *worker) admit(rw http.ResponseWriter, r *http.Request, req validator) bool {
	if !w.ready.Load() {
		rw.Header().Set("Retry-After", "1")
		writeAPIError(rw, http.StatusServiceUnavailable, errTypeServer, codeModelLoading,
			"the model is loading; retry when GET /health answers 200")
		return false
	}
	if status, err := decodeBody(rw, r, req); err != nil {
		code := codeInvalidJSON
		switch {
		case status == http.StatusRequestEntityTooLarge:
			code = codeBodyTooLarge
		case errors.Is(err, errInvalidField):
			code = codeInvalidField
		}
		writeAPIError(rw, status, errTypeInvalidRequest, code, err.Error())
		return false
	}
	select {
	case w.slots <- struct{}{}:
		return true
	default:
		rw.Header().Set("Retry-After", "1")
		writeAPIError(rw, http.StatusServiceUnavailable, errTypeServer, codeSlotsBusy,
			fmt.Sprintf("all %d slots are busy; retry later or use another worker", cap(w.slots)))
		return false
	}
}

// decodeBody reads the request body, at most maxBody bytes, into req and
// checks it. On error it returns the HTTP status to answer.
func decodeBody(rw http.ResponseWriter, r *http.Request, req validator) (int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, maxBody))
	err := dec.Decode(req)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value in the body")
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("body is over the %d-byte limit", maxBody)
	}
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("body is not a completion request: %w", err)
	}
	if err := req.validate(); err != nil {
		return http.StatusBadRequest, err
	}
	return 0, nil
}

// apiErrorBody is the OpenAI error shape:
// {"error":{"message":"…","type":"invalid_request_error","code":"invalid_json"}}.
type apiErrorBody struct {
	Error apiError `json:"error"`
}

type apiError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
}

func writeAPIError(rw http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(rw, status, apiErrorBody{Error: apiError{Message: msg, Type: typ, Code: code}})
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types reach here; they always encode.
		http.Error(rw, "encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	rw.WriteHeader(status)
	rw.Write(append(body, '\n'))
}
