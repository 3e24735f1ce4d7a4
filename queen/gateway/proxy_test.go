package gateway

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// serveGateway serves a gateway on loopback in front of one worker of
// hf:x/y answering with handler, and returns its URL.
func serveGateway(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	worker := httptest.NewServer(handler)
	t.Cleanup(worker.Close)
	reg := workerregistry.New()
	_, err := reg.Register("gpu-1", api.Worker{ID: "w-1", Node: "gpu-1", URL: worker.URL, ModelRef: "hf:x/y",
		Backend: api.BackendCPU, State: api.WorkerIdle, SlotsTotal: 4, SlotsAvailable: 4, PID: 7}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(New(Config{Workers: reg, Keys: keysOf("k")}))
	t.Cleanup(gw.Close)
	return gw.URL
}

func postCompletion(t *testing.T, base string, stream bool) *http.Response {
	t.Helper()
	body := `{"model":"hf:x/y","prompt":"a","stream":false}`
	if stream {
		body = strings.Replace(body, "false", "true", 1)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestAnswerOfKnownLengthKeepsIt: a worker's answer with a Content-Length
// reaches the client with the same length and body, not re-chunked (the
// gateway used to flush it at once, which chunked it and cost a second
// write for the end of the chunks).
func TestAnswerOfKnownLengthKeepsIt(t *testing.T) {
	const answer = `{"choices":[{"text":" hive"}]}`
	base := serveGateway(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer) // net/http sets Content-Length for a short answer
	})
	resp := postCompletion(t, base, false)
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != answer {
		t.Fatalf("body %q, %v; want %q", body, err, answer)
	}
	if resp.ContentLength != int64(len(answer)) || len(resp.TransferEncoding) > 0 {
		t.Errorf("Content-Length %d, Transfer-Encoding %v; want %d and none", resp.ContentLength, resp.TransferEncoding, len(answer))
	}
}

// TestStreamEventsGoOnAsTheyCome: each event of a streamed answer reaches
// the client before the worker sends the next one, and the last event
// arrives with the end of the stream.
func TestStreamEventsGoOnAsTheyCome(t *testing.T) {
	next := make(chan struct{}, 3) // the client never blocks on it
	base := serveGateway(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{"one", "two"} {
			io.WriteString(w, "data: "+ev+"\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-next: // the client read it
			case <-time.After(3 * time.Second):
				io.WriteString(w, "data: the client did not get the last event within 3 s\n\n")
				return
			}
		}
		io.WriteString(w, "data: [DONE]\n\n")
	})
	resp := postCompletion(t, base, true)
	if resp.ContentLength != -1 {
		t.Errorf("a stream's Content-Length is %d, want unknown (-1)", resp.ContentLength)
	}
	br := bufio.NewReader(resp.Body)
	for _, want := range []string{"data: one", "data: two", "data: [DONE]"} {
		line, err := br.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != want {
			t.Fatalf("read %q, %v; want %q (before the worker sends the next event)", line, err, want)
		}
		_, _ = br.ReadString('\n') // the blank line ending the event
		if want != "data: [DONE]" {
			next <- struct{}{}
		}
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Errorf("after [DONE]: %q, %v; want the end of the stream", rest, err)
	}
}

// TestAnswerOfKnownLengthCutShortIsCut: a worker that breaks off an
// answer of known length, even to a stream request, leaves the client a
// cut connection, not an error event spliced into a body of that length.
func TestAnswerOfKnownLengthCutShortIsCut(t *testing.T) {
	base := serveGateway(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4096")
		io.WriteString(w, `{"error":`)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the worker's connection ends 4087 bytes short
	})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/completions",
		strings.NewReader(`{"model":"hf:x/y","prompt":"a","stream":true}`))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return // cut before the answer's head went out: as good
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("read %q and no error; want a cut connection", body)
	}
	if strings.Contains(string(body), "worker_failed") {
		t.Errorf("body %q has an error event; want none in an answer of known length", body)
	}
}
