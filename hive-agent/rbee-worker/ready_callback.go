package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/version"
)

// The ready callback is tried callbackAttempts times in all, each bounded by
// callbackTimeout, waiting callbackBackoff and then twice as long between
// tries. Only network errors and 5xx answers are retried: a 4xx (wrong
// token, unknown worker) will not get better.
const (
	callbackAttempts = 3
	callbackTimeout  = 5 * time.Second
	callbackBackoff  = 500 * time.Millisecond
	// maxAnswerBody bounds how much of the callback's answer is read.
	maxAnswerBody = 64 << 10
	// maxShownAnswer bounds how much of a non-JSON error answer is quoted.
	maxShownAnswer = 200
)

// statusError is a callback answered with a non-2xx status.
type statusError struct {
	// Status is the HTTP status line, e.g. "401 Unauthorized".
	Status string
	Code   int
	// Message is the answer's error message and hint, or the start of a
	// non-JSON answer.
	Message string
}

func (e *statusError) Error() string {
	if e.Message == "" {
		return e.Status
	}
	return e.Status + ": " + e.Message
}

// callBack POSTs the ready callback, retrying network errors and 5xx.
func (w *worker) callBack(ctx context.Context) error {
	body, err := json.Marshal(api.ReadyCallback{
		ID:         w.cfg.WorkerID,
		URL:        w.url,
		ModelRef:   w.cfg.ModelRef,
		Backend:    w.cfg.Backend,
		Device:     w.cfg.Device,
		SlotsTotal: w.cfg.Slots,
		VRAMBytes:  w.cfg.VRAMBytes,
	})
	if err != nil {
		return fmt.Errorf("encode ready callback: %w", err)
	}
	target := redacted(w.cfg.CallbackURL)
	backoff := callbackBackoff
	for attempt := 1; ; attempt++ {
		err = w.postReady(ctx, body)
		if err == nil {
			w.log.Info("ready callback accepted", keyURL, target, keyAttempt, attempt)
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if !retryable(err) || attempt == callbackAttempts {
			return fmt.Errorf("ready callback to %s: %w%s", target, err, w.callbackHint(err, attempt))
		}
		w.log.Warn("ready callback failed; retrying", keyURL, target, keyAttempt, attempt, keyErr, err, "retry_in", backoff)
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		backoff *= 2
	}
}

// postReady makes one attempt, bounded by callbackTimeout.
func (w *worker) postReady(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rbee-worker/"+version.String())
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	client := w.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The *url.Error repeats the URL, which the caller names already.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer within %s", callbackTimeout)
		}
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBody))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return &statusError{Status: resp.Status, Code: resp.StatusCode, Message: answerMessage(answer)}
}

// retryable reports whether another attempt may succeed: network errors and
// 5xx answers.
func retryable(err error) bool {
	if se, ok := errors.AsType[*statusError](err); ok {
		return se.Code >= 500
	}
	return true
}

// answerMessage returns the message (and hint) of a JSON error answer, or
// the start of any other answer, quoted.
func answerMessage(answer []byte) string {
	var body api.ErrorBody
	if err := json.Unmarshal(answer, &body); err == nil && body.Error.Message != "" {
		if body.Error.Hint != "" {
			return body.Error.Message + " (hint: " + body.Error.Hint + ")"
		}
		return body.Error.Message
	}
	text := strings.TrimSpace(string(answer))
	if text == "" {
		return ""
	}
	if len(text) > maxShownAnswer {
		text = text[:maxShownAnswer]
	}
	return strconv.Quote(text)
}

// callbackHint is the next step after the callback failed for good.
func (w *worker) callbackHint(err error, attempts int) string {
	se, ok := errors.AsType[*statusError](err)
	switch {
	case ok && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden) && w.token == "":
		return "; " + api.WorkerTokenEnv + " is empty: the agent sets it for each worker it starts"
	case ok && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden):
		return "; check that " + api.WorkerTokenEnv + " holds the token the agent gave this worker"
	case ok && se.Code < 500:
		return "; check --worker-id and --callback-url against what the agent passed"
	default:
		return fmt.Sprintf(" (after %d attempts); is the agent running and reachable at --callback-url?", attempts)
	}
}

// redacted returns u without a password, for logs and errors.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Redacted()
}
