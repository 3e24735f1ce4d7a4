package httpserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveLogged serves h with a logger writing to the returned buffer.
func serveLogged(t *testing.T, h func(log *slog.Logger) http.Handler) (string, *lockedBuffer) {
	t.Helper()
	buf := &lockedBuffer{}
	log := slog.New(LogHandler(slog.NewTextHandler(buf, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(h(log), Limits{Logger: log})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), buf
}

// refuse answers 401 with an error body carrying the request id, and logs
// one line with the request's context.
func refuse(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "checking the token")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"request_id": w.Header().Get(RequestIDHeader)})
	})
}

func get(t *testing.T, url, id, token string) (*http.Response, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if id != "" {
		req.Header.Set(RequestIDHeader, id)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

func TestRequestIDs(t *testing.T) {
	url, logs := serveLogged(t, refuse)
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{name: "the client's id is kept", sent: "job-42.retry:1", kept: true},
		{name: "none sent: one is made"},
		{name: "a blank in it: replaced", sent: "a b"},
		{name: "too long: replaced", sent: strings.Repeat("x", 65)},
		{name: "a quote: replaced", sent: `x"y`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, url, tt.sent, "")
			id := resp.Header.Get(RequestIDHeader)
			if !wellFormedID(id) || (id == tt.sent) != tt.kept || body["request_id"] != id {
				t.Errorf("sent %q: header %q, body %q", tt.sent, id, body["request_id"])
			}
			if !strings.Contains(logs.String(), `msg="checking the token" request_id=`+id) {
				t.Errorf("the handler's log line lacks request_id=%s:\n%s", id, logs)
			}
		})
	}
}

func TestRefusedRequestsAreLoggedWithoutTheToken(t *testing.T) {
	url, logs := serveLogged(t, refuse)
	const secret = "s3cr3t-token-never-logged"
	resp, _ := get(t, url, "", secret)
	id := resp.Header.Get(RequestIDHeader)
	line := ""
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, "refused request") {
			line = l
		}
	}
	for _, want := range []string{"status=401", "method=GET", "path=/", "remote=127.0.0.1:", "token=sha256:", "request_id=" + id} {
		if !strings.Contains(line, want) {
			t.Errorf("refusal line %q lacks %q", line, want)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the token is in the log:\n%s", logs)
	}
}

func TestRefusalLogIsRateLimited(t *testing.T) {
	url, logs := serveLogged(t, refuse)
	for range 200 {
		get(t, url, "", "x")
	}
	lines := strings.Count(logs.String(), "refused request")
	if lines < 20 || lines > 60 {
		t.Errorf("%d refusal lines for 200 refused requests, want the burst of 20 plus a few per second", lines)
	}
	get(t, url, "", "x") // may be held back too; wait for a token
	time.Sleep(300 * time.Millisecond)
	get(t, url, "", "x")
	if !strings.Contains(logs.String(), "refusals_not_logged=") {
		t.Errorf("no line counts the refusals held back:\n%s", logs)
	}
}

func TestStreamsStillFlush(t *testing.T) {
	release := make(chan struct{})
	url, _ := serveLogged(t, func(*slog.Logger) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("first\n"))
			http.NewResponseController(w).Flush()
			<-release
			w.Write([]byte("second\n"))
		})
	})
	defer close(release)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v: the stream was not flushed", line, err)
	}
}
