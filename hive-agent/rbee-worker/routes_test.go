package main

// In-process tests of the routes and the answer generator: the cases the
// process tests cannot set up cheaply (every slot taken, a huge body).

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestCompletionsWhenEverySlotIsTaken(t *testing.T) {
	w := newTestWorker(t, 1, true)
	w.slots <- struct{}{} // one completion in flight

	rec := serve(w, http.MethodPost, "/v1/completions", `{"prompt":"hi"}`)
	if got := decodeError(t, rec); rec.Code != http.StatusServiceUnavailable || got.Code != codeSlotsBusy || rec.Header().Get("Retry-After") == "" {
		t.Errorf("POST /v1/completions with every slot taken = %d %+v, want 503 %s with Retry-After", rec.Code, got, codeSlotsBusy)
	}
	rec = serve(w, http.MethodGet, "/health", "")
	var h healthBody
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || rec.Code != http.StatusOK || h.State != api.WorkerBusy || h.SlotsAvailable != 0 {
		t.Errorf("GET /health with every slot taken = %d %s, want 200 state busy, 0 slots available", rec.Code, rec.Body)
	}

	<-w.slots
	if rec := serve(w, http.MethodPost, "/v1/completions", `{"prompt":"hi"}`); rec.Code != http.StatusOK {
		t.Errorf("POST /v1/completions with a free slot = %d %s, want 200", rec.Code, rec.Body)
	}
	if len(w.slots) != 0 {
		t.Errorf("%d slots still taken after the completion, want 0", len(w.slots))
	}
}

func TestCompletionsWhileLoading(t *testing.T) {
	w := newTestWorker(t, 1, false)
	rec := serve(w, http.MethodPost, "/v1/completions", `{"prompt":"hi"}`)
	if got := decodeError(t, rec); rec.Code != http.StatusServiceUnavailable || got.Code != codeModelLoading {
		t.Errorf("POST /v1/completions while loading = %d %+v, want 503 %s", rec.Code, got, codeModelLoading)
	}
}

func TestCompletionsRejectBadRequests(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantCode int
		want     string
	}{
		{"truncated JSON", `{"prompt":"hi"`, http.StatusBadRequest, codeInvalidJSON},
		{"prompt as a list", `{"prompt":["hi"]}`, http.StatusBadRequest, codeInvalidJSON},
		{"two JSON values", `{"prompt":"hi"} {"prompt":"again"}`, http.StatusBadRequest, codeInvalidJSON},
		{"max_tokens 0", `{"prompt":"hi","max_tokens":0}`, http.StatusBadRequest, codeInvalidField},
		{"max_tokens too large", `{"prompt":"hi","max_tokens":4097}`, http.StatusBadRequest, codeInvalidField},
		// 1 MiB written out, not taken from maxBody: a changed limit fails here.
		{"body over 1 MiB", `{"prompt":"` + strings.Repeat("a ", 524288) + `"}`, http.StatusRequestEntityTooLarge, codeBodyTooLarge},
	}
	w := newTestWorker(t, 1, true)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(w, http.MethodPost, "/v1/completions", tt.body)
			got := decodeError(t, rec)
			if rec.Code != tt.wantCode || got.Code != tt.want || got.Type != errTypeInvalidRequest {
				t.Errorf("got %d %+v, want %d code %s type %s", rec.Code, got, tt.wantCode, tt.want, errTypeInvalidRequest)
			}
		})
	}
}

func TestCompletionsAcceptUnknownFields(t *testing.T) {
	w := newTestWorker(t, 1, true)
	rec := serve(w, http.MethodPost, "/v1/completions", `{"model":"other","prompt":"hi","temperature":0.7,"stop":["\n"]}`)
	var got completionResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK || got.Model != testModelRef {
		t.Errorf("POST with extra fields = %d %s, want 200 answered by model %s", rec.Code, rec.Body, testModelRef)
	}
}

// TestCompletionWordsGolden pins the answer text: the same worker id and
// prompt must give the same words across builds, not only within a run.
func TestCompletionWordsGolden(t *testing.T) {
	tests := []struct {
		name       string
		workerID   string
		prompt     string
		maxTokens  int
		want       string
		wantFinish string
	}{
		{"whole answer", "w1", "hello there bees", 16, "nectar field drone hive queen hello flower comb bee nectar", "stop"},
		{"cut by max_tokens", "w1", "hello there bees", 5, "nectar field drone hive queen", "length"},
		{"max_tokens equal to the natural length", "w1", "hello there bees", 10, "nectar field drone hive queen hello flower comb bee nectar", "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			words, finish := completionWords(tt.workerID, tt.prompt, tt.maxTokens)
			if got := strings.Join(words, " "); got != tt.want || finish != tt.wantFinish {
				t.Errorf("completionWords(%q, %q, %d) = %q, %s; want %q, %s", tt.workerID, tt.prompt, tt.maxTokens, got, finish, tt.want, tt.wantFinish)
			}
		})
	}
}

func TestCompletionWordsDependOnWorkerAndPrompt(t *testing.T) {
	base, _ := completionWords("w1", "hello there bees", maxMaxTokens)
	for _, other := range [][2]string{{"w2", "hello there bees"}, {"w1", "hello there wasps"}} {
		if got, _ := completionWords(other[0], other[1], maxMaxTokens); slices.Equal(got, base) {
			t.Errorf("worker %q prompt %q gives the same words as w1's %q: %q", other[0], other[1], "hello there bees", got)
		}
	}
	for _, prompt := range []string{"", "one", strings.Repeat("many words ", 100)} {
		words, finish := completionWords("w1", prompt, maxMaxTokens)
		if len(words) < minNatural || len(words) >= minNatural+naturalSpread || finish != "stop" {
			t.Errorf("prompt %.20q: %d words, finish %s; want %d–%d words, stop", prompt, len(words), finish, minNatural, minNatural+naturalSpread-1)
		}
	}
}

func TestValidateFlags(t *testing.T) {
	valid := cli{WorkerID: "w-1", ModelRef: "hf:a/b", Backend: "cpu", Port: 8081, Host: "0.0.0.0", AdvertiseHost: "127.0.0.1", Slots: 1}
	if err := valid.validate(); err != nil {
		t.Fatalf("valid flags: %v", err)
	}
	tests := []struct {
		name string
		edit func(*cli)
		want string
	}{
		{"model ref with a space", func(c *cli) { c.ModelRef = "my model" }, "--model-ref"},
		{"backend in capitals", func(c *cli) { c.Backend = "CUDA" }, "--backend"},
		{"device 256", func(c *cli) { c.Device = 256 }, "--device"},
		{"port 65536", func(c *cli) { c.Port = 65536 }, "--port"},
		{"ftp callback", func(c *cli) { c.CallbackURL = "ftp://agent/ready" }, "--callback-url"},
		{"negative vram", func(c *cli) { c.VRAMBytes = -1 }, "--vram-bytes"},
		{"negative completion delay", func(c *cli) { c.CompletionDelay = -time.Second }, "--completion-delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.edit(&c)
			if err := c.validate(); err == nil || !strings.HasPrefix(err.Error(), tt.want+":") {
				t.Errorf("validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// newTestWorker returns a worker with slots slots that logs to the test.
func newTestWorker(t *testing.T, slots int, ready bool) *worker {
	t.Helper()
	w := &worker{
		log:   slog.New(slog.NewTextHandler(t.Output(), nil)),
		cfg:   cli{WorkerID: testWorkerID, ModelRef: testModelRef, Backend: "cpu", Slots: slots},
		slots: make(chan struct{}, slots),
	}
	w.ready.Store(ready)
	return w
}

func serve(w *worker, method, path, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	w.routes().ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) apiError {
	t.Helper()
	var body apiErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error answer %d %q is not JSON: %v", rec.Code, rec.Body, err)
	}
	return body.Error
}
