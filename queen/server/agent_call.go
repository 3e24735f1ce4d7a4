package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// agentDialDelays are the waits before the second and third dial of an
// agent that could not be dialled: 3 attempts in all, as for SSH. Only a
// dial error is retried: nothing was sent, so the agent cannot have acted.
var agentDialDelays = []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}

// agent is how the queen reaches one node's agent.
type agent struct {
	node  string
	url   string // the base of requests
	shown string // the agent URL the registry has, for messages
	token string
	http  *http.Client
}

// Kinds of failed agent calls, wrapped by [*agentCallError].
var (
	// errAgentUnreached: every dial failed; the request was never sent.
	errAgentUnreached = errors.New("cannot reach the agent")
	// errAgentNoAnswer: the request was sent but no answer came (a
	// timeout, a connection reset or closed mid-answer); the agent may
	// have acted on it, so it is not sent again.
	errAgentNoAnswer = errors.New("no answer from the agent")
	// errAgentBadAnswer: the agent answered, but not what the API allows.
	errAgentBadAnswer = errors.New("invalid response from the agent")
)

// agentCallError is a call to an agent that failed.
type agentCallError struct {
	kind     error // errAgentUnreached, errAgentNoAnswer or errAgentBadAnswer
	attempts int   // dials made, for errAgentUnreached
	err      error // the cause
}

// Error names the kind and the cause.
func (e *agentCallError) Error() string { return fmt.Sprintf("%v: %v", e.kind, e.err) }

// Unwrap returns the kind and the cause.
func (e *agentCallError) Unwrap() []error { return []error{e.kind, e.err} }

// badAnswer returns an errAgentBadAnswer saying what was wrong.
func badAnswer(format string, args ...any) error {
	return &agentCallError{kind: errAgentBadAnswer, err: fmt.Errorf(format, args...)}
}

// callAgent calls the agent and decodes a 2xx answer into ans; otherwise it
// answers the client itself (the agent's error, or 502) and returns false.
// what names the call for messages ("spawn").
func (s *Server) callAgent(ctx context.Context, w http.ResponseWriter, a agent, timeout time.Duration,
	what, method, path string, body, ans any) bool {
	status, detail, err := a.call(ctx, timeout, method, path, body, ans)
	if err != nil {
		s.agentFailed(w, a, what, err)
		return false
	}
	if status/100 != 2 {
		writeError(w, status, detail)
		return false
	}
	return true
}

// agentFailed answers 502 for a failed call to an agent, with a code that
// says whether the agent was reached.
func (s *Server) agentFailed(w http.ResponseWriter, a agent, what string, err error) {
	s.log.Warn("agent call failed", "node", a.node, "call", what, "err", err)
	writeError(w, http.StatusBadGateway, agentFailure(a, what, err))
}

// agentFailure is the error the client gets for a failed call to a: an
// agent that answered garbage is AGENT_BAD_RESPONSE, one that could not be
// dialled or gave no answer AGENT_UNREACHABLE.
func agentFailure(a agent, what string, err error) api.ErrorDetail {
	cause, attempts := err, 1
	if e, ok := errors.AsType[*agentCallError](err); ok {
		cause, attempts = e.err, e.attempts
	}
	switch {
	case errors.Is(err, errAgentBadAnswer):
		return api.ErrorDetail{Code: api.CodeAgentBadResponse,
			Message: fmt.Sprintf("invalid response from the agent of %s at %s to the %s: %v", a.node, a.shown, what, cause),
			Hint:    restartAgentHint(a.node)}
	case errors.Is(err, errAgentNoAnswer):
		return api.ErrorDetail{Code: api.CodeAgentUnreachable,
			Message: fmt.Sprintf("sent the %s to the agent of %s at %s but got no answer: %v", what, a.node, a.shown, cause),
			Hint: fmt.Sprintf("the agent may have acted on it: check `queen workers list --node %s` before you try again, "+
				"and `queen hive status --node %s`", a.node, a.node)}
	}
	return api.ErrorDetail{Code: api.CodeAgentUnreachable,
		Message: fmt.Sprintf("cannot reach the agent of %s at %s (%d attempt(s)): %v", a.node, a.shown, attempts, cause),
		Hint: fmt.Sprintf("check `queen hive status --node %s`; if the agent is not running, start it with "+
			"`queen hive start --node %s`", a.node, a.node)}
}

// restartAgentHint is the next step after an agent answered garbage.
func restartAgentHint(node string) string {
	return fmt.Sprintf("restart it with `queen hive stop --node %s` and `queen hive start --node %s`; "+
		"if it answers so again, reinstall it with `queen setup install --node %s`", node, node, node)
}

// call sends one request to the agent with the agent token and returns the
// status and, for a non-2xx answer, the agent's error. err is an
// [*agentCallError]: no dial worked, no answer came, or the answer is not
// one the API allows (a 2xx that does not decode into ans, an error
// without an error body).
func (a agent) call(ctx context.Context, timeout time.Duration, method, path string, body, ans any) (int, api.ErrorDetail, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return 0, api.ErrorDetail{}, fmt.Errorf("encode the request to the agent: %w", err)
		}
	}
	resp, err := a.send(ctx, method, path, data)
	if err != nil {
		return 0, api.ErrorDetail{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, api.ErrorDetail{}, &agentCallError{kind: errAgentNoAnswer, err: fmt.Errorf("read the answer: %w", err)}
	}
	if resp.StatusCode/100 != 2 {
		return a.errorAnswer(resp, raw)
	}
	if ans != nil {
		if err := json.Unmarshal(raw, ans); err != nil {
			return 0, api.ErrorDetail{}, badAnswer("%s answer %s is not the JSON the API documents: %w", resp.Status, excerpt(raw), err)
		}
	}
	return resp.StatusCode, api.ErrorDetail{}, nil
}

// errorAnswer reads a non-2xx answer: the agent's error body is passed on;
// its 401 means the queen's token is stale, not the user's.
func (a agent) errorAnswer(resp *http.Response, raw []byte) (int, api.ErrorDetail, error) {
	if resp.StatusCode == http.StatusUnauthorized {
		return http.StatusBadGateway, api.ErrorDetail{Code: api.CodeAgentUnreachable,
			Message: "the agent of " + a.node + " refused the queen's token",
			Hint:    "re-run `queen setup install --node " + a.node + "` to write new tokens"}, nil
	}
	var eb api.ErrorBody
	if json.Unmarshal(raw, &eb) != nil || eb.Error.Code == "" {
		return 0, api.ErrorDetail{}, badAnswer("%s without an error body: %s", resp.Status, excerpt(raw))
	}
	return resp.StatusCode, eb.Error, nil
}

// send sends the request, dialling again after a dial error (nothing was
// sent) with the waits of agentDialDelays. Any other failure is final: the
// request may have reached the agent.
func (a agent) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := a.sendOnce(ctx, method, path, body)
		switch {
		case err == nil:
			return resp, nil
		case !isDialError(err):
			return nil, &agentCallError{kind: errAgentNoAnswer, attempts: attempt, err: shortURLError(err)}
		case attempt > len(agentDialDelays) || sleepCtx(ctx, agentDialDelays[attempt-1]) != nil:
			return nil, &agentCallError{kind: errAgentUnreached, attempts: attempt, err: shortURLError(err)}
		}
	}
}

// sendOnce makes one request with the agent token.
func (a agent) sendOnce(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return a.http.Do(req)
}

// isDialError reports whether err happened while dialling, before
// anything was sent (refused, no route, dial timeout).
func isDialError(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}

// shortURLError drops the method and URL net/http puts before the cause;
// the messages name the agent's URL themselves.
func shortURLError(err error) error {
	if u, ok := errors.AsType[*url.Error](err); ok {
		return u.Err
	}
	return err
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// maxExcerpt bounds the part of a bad answer a message quotes.
const maxExcerpt = 80

// excerpt quotes the start of a bad answer for a message.
func excerpt(raw []byte) string {
	if len(raw) > maxExcerpt {
		return fmt.Sprintf("%q…", raw[:maxExcerpt])
	}
	return fmt.Sprintf("%q", raw)
}
