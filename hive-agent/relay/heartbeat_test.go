package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

const testToken = "hvt_91c0ffee5e11"

func TestSendRetries(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		wantRequests int32
		wantRejected bool
		wantRemoved  bool
		wantStatus   int // StatusError's code; 0: not a StatusError
		wantErr      bool
	}{
		{name: "accepted", status: http.StatusOK, wantRequests: 1},
		{name: "token rejected is not retried", status: http.StatusUnauthorized, wantRequests: 1, wantRejected: true, wantStatus: 401, wantErr: true},
		{name: "forbidden is not retried", status: http.StatusForbidden, wantRequests: 1, wantRejected: true, wantStatus: 403, wantErr: true},
		{name: "removed node is not retried", status: http.StatusGone, wantRequests: 1, wantRemoved: true, wantStatus: 410, wantErr: true},
		{name: "unknown node is not retried", status: http.StatusNotFound, wantRequests: 1, wantStatus: 404, wantErr: true},
		{name: "too many requests is not retried", status: http.StatusTooManyRequests, wantRequests: 1, wantStatus: 429, wantErr: true},
		{name: "server error is retried", status: http.StatusServiceUnavailable, wantRequests: retryMax + 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueen(t)
			q.status.Store(int32(tt.status))
			hb := newTestHeartbeat(t, q.srv.URL, slog.New(slog.NewTextHandler(t.Output(), nil)))
			ans, err := hb.Send(t.Context())
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send: %v, want error %v", err, tt.wantErr)
			}
			if got := q.requests.Load(); got != tt.wantRequests {
				t.Errorf("queen got %d requests, want %d", got, tt.wantRequests)
			}
			if IsTokenRejected(err) != tt.wantRejected {
				t.Errorf("IsTokenRejected(%v) = %v, want %v", err, !tt.wantRejected, tt.wantRejected)
			}
			if IsNodeRemoved(err) != tt.wantRemoved {
				t.Errorf("IsNodeRemoved(%v) = %v, want %v", err, !tt.wantRemoved, tt.wantRemoved)
			}
			if se, ok := errors.AsType[*StatusError](err); ok != (tt.wantStatus != 0) || (ok && se.StatusCode != tt.wantStatus) {
				t.Errorf("error %v: StatusError %v, want status %d", err, ok, tt.wantStatus)
			}
			if !tt.wantErr && ans.IntervalMS != 100 {
				t.Errorf("answer interval %d, want 100", ans.IntervalMS)
			}
		})
	}
}

func TestSendRequest(t *testing.T) {
	q := newQueen(t)
	hb := newTestHeartbeat(t, q.srv.URL+"/", slog.New(slog.NewTextHandler(t.Output(), nil)))
	if _, err := hb.Send(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := q.last()
	if got.path != "/v1/hives/gpu-1/heartbeat" || got.auth != "Bearer "+testToken || got.method != http.MethodPost {
		t.Errorf("request %s %s auth %q", got.method, got.path, got.auth)
	}
	if got.body.PID != 4321 || got.body.AgentVersion != "abc123def456" || got.body.Listen != "0.0.0.0:7835" {
		t.Errorf("body %+v", got.body)
	}
}

// TestRunLogsRejectionsOnce runs the loop against a queen that accepts,
// then refuses several beats, then accepts again: each refusal is logged
// once with its next step, and so is the recovery; a removed node's beats
// back off with growing gaps, a rejected token's keep the interval (issue
// 9 point 2).
func TestRunLogsRejectionsOnce(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		wantLog     string // logged once when the refusals start
		wantAdvice  string // in that line
		wantResume  string // logged once when the queen accepts again
		wantBackoff bool   // gaps between refused beats grow
	}{
		{
			name:       "token rejected",
			status:     http.StatusUnauthorized,
			wantLog:    "queen rejected the hive token",
			wantAdvice: "queen setup install --node gpu-1",
			wantResume: "queen accepted the hive token again",
		},
		{
			name:        "node removed",
			status:      http.StatusGone,
			wantLog:     "node gpu-1 was removed from the queen",
			wantAdvice:  fmt.Sprintf("stop this agent with `kill %d`", os.Getpid()),
			wantResume:  "queen accepts node gpu-1 again",
			wantBackoff: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, logs := runLoop(t)
			waitRequests(t, q, 2)
			q.status.Store(int32(tt.status))
			waitFor(t, func() bool { return len(q.withStatus(tt.status)) >= refusedBeats })
			q.status.Store(http.StatusOK)
			resumed := q.requests.Load()
			waitRequests(t, q, resumed+3)

			out := logs.String()
			for _, line := range []string{tt.wantLog, tt.wantResume} {
				if n := strings.Count(out, line); n != 1 {
					t.Errorf("%q logged %d times, want once:\n%s", line, n, out)
				}
			}
			if !strings.Contains(out, tt.wantAdvice) {
				t.Errorf("log does not say %q:\n%s", tt.wantAdvice, out)
			}
			if strings.Contains(out, testToken) {
				t.Errorf("log shows the token:\n%s", out)
			}
			checkGaps(t, gaps(q.withStatus(tt.status)[:refusedBeats]), tt.wantBackoff)
			checkGaps(t, gaps(q.since(int(resumed))), false)
		})
	}
}

// refusedBeats is how many refused beats TestRunLogsRejectionsOnce waits
// for: with the test queen's 100 ms interval, a removed node's gaps are
// about 200, 400 and 800 ms.
const refusedBeats = 4

// testInterval is the interval the test queen asks for.
const testInterval = 100 * time.Millisecond

// runLoop starts the heartbeat loop against a new test queen, logging at
// info level into the returned buffer, and stops it when the test ends.
func runLoop(t *testing.T) (*queen, *syncBuffer) {
	t.Helper()
	q := newQueen(t)
	logs := &syncBuffer{}
	hb := newTestHeartbeat(t, q.srv.URL, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { hb.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return q, logs
}

// checkGaps checks the gaps between beats: growing at least 1.5 times each
// (a doubling backoff, jittered by up to a tenth) from above the interval,
// or else never much longer than the interval.
func checkGaps(t *testing.T, gaps []time.Duration, growing bool) {
	t.Helper()
	for i, g := range gaps {
		switch {
		case growing && i == 0 && g < testInterval*3/2:
			t.Errorf("gaps %v: the first is not above the %v interval, want a backoff", gaps, testInterval)
		case growing && i > 0 && g < gaps[i-1]*3/2:
			t.Errorf("gaps %v: gap %d does not grow, want a doubling backoff", gaps, i)
		case !growing && g > testInterval*5/2:
			t.Errorf("gaps %v: gap %d is well over the %v interval", gaps, i, testInterval)
		}
	}
}

// gaps returns the time between consecutive requests.
func gaps(reqs []request) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(reqs); i++ {
		out = append(out, reqs[i].at.Sub(reqs[i-1].at))
	}
	return out
}

type request struct {
	method, path, auth string
	body               api.HeartbeatRequest
	at                 time.Time // when it arrived
	status             int       // what the queen answered
}

// queen is a test queen answering heartbeats with status (200 by default)
// and an interval of testInterval, and refusals with the error body the
// real queen sends for that status.
type queen struct {
	srv      *httptest.Server
	status   atomic.Int32
	requests atomic.Int32
	mu       sync.Mutex
	reqs     []request
}

func newQueen(t *testing.T) *queen {
	t.Helper()
	q := &queen{}
	q.status.Store(http.StatusOK)
	q.srv = httptest.NewServer(http.HandlerFunc(q.serve))
	t.Cleanup(q.srv.Close)
	return q
}

func (q *queen) serve(w http.ResponseWriter, r *http.Request) {
	var body api.HeartbeatRequest
	_ = json.NewDecoder(r.Body).Decode(&body)
	status := int(q.status.Load())
	q.mu.Lock()
	q.reqs = append(q.reqs, request{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"),
		body: body, at: time.Now(), status: status})
	q.mu.Unlock()
	q.requests.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusOK {
		_ = json.NewEncoder(w).Encode(api.HeartbeatResponse{IntervalMS: testInterval.Milliseconds()})
		return
	}
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: refusal(status)})
}

// refusal is the queen's error body for status.
func refusal(status int) api.ErrorDetail {
	if status == http.StatusGone {
		return api.ErrorDetail{Code: api.CodeNodeRemoved, Message: "node gpu-1 was removed",
			Hint: "stop the agent on gpu-1, or add the node again and run `queen setup install --node gpu-1`"}
	}
	return api.ErrorDetail{Code: api.CodeUnauthorized, Message: "hive token not valid for this node"}
}

// withStatus returns the requests the queen answered with status.
func (q *queen) withStatus(status int) []request {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []request
	for _, r := range q.reqs {
		if r.status == status {
			out = append(out, r)
		}
	}
	return out
}

// since returns the requests from the i-th (0-based) on.
func (q *queen) since(i int) []request {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.reqs[i:])
}

func (q *queen) last() request {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.reqs[len(q.reqs)-1]
}

func newTestHeartbeat(t *testing.T, queenURL string, log *slog.Logger) *Relay {
	t.Helper()
	hb, err := New(Config{
		QueenURL: queenURL,
		NodeName: "gpu-1",
		Token:    testToken,
		Beat:     api.HeartbeatRequest{AgentVersion: "abc123def456", PID: 4321, StartedUnix: time.Now().Unix(), Listen: "0.0.0.0:7835", Capabilities: []string{"cpu"}},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	return hb
}

func waitRequests(t *testing.T, q *queen, n int32) {
	t.Helper()
	waitFor(t, func() bool { return q.requests.Load() >= n })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the loop's goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
