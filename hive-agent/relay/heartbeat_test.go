package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
		wantStatus   int // StatusError's code; 0: not a StatusError
		wantErr      bool
	}{
		{name: "accepted", status: http.StatusOK, wantRequests: 1},
		{name: "token rejected is not retried", status: http.StatusUnauthorized, wantRequests: 1, wantRejected: true, wantStatus: 401, wantErr: true},
		{name: "forbidden is not retried", status: http.StatusForbidden, wantRequests: 1, wantRejected: true, wantStatus: 403, wantErr: true},
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

// TestRunLogsOncePerChange runs the loop against a queen that accepts,
// rejects the token for several beats, then accepts again.
func TestRunLogsOncePerChange(t *testing.T) {
	q := newQueen(t)
	var logs syncBuffer
	hb := newTestHeartbeat(t, q.srv.URL, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { hb.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitRequests(t, q, 2)
	q.status.Store(http.StatusUnauthorized)
	waitRequests(t, q, q.requests.Load()+4)
	q.status.Store(http.StatusOK)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "accepted the hive token again") })

	out := logs.String()
	if n := strings.Count(out, "queen rejected the hive token"); n != 1 {
		t.Errorf("rejection logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "queen setup install --node gpu-1") {
		t.Errorf("rejection does not name the reinstall command:\n%s", out)
	}
	if strings.Contains(out, testToken) {
		t.Errorf("log shows the token:\n%s", out)
	}
}

type request struct {
	method, path, auth string
	body               api.HeartbeatRequest
}

// queen is a test queen answering heartbeats with status (200 by default)
// and an interval of 100 ms.
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
	q.mu.Lock()
	q.reqs = append(q.reqs, request{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body})
	q.mu.Unlock()
	q.requests.Add(1)
	status := int(q.status.Load())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusOK {
		_ = json.NewEncoder(w).Encode(api.HeartbeatResponse{IntervalMS: 100})
		return
	}
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeUnauthorized, Message: "hive token not valid for this node"}})
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
