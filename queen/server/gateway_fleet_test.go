package server_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rbee-fleet/rbee/queen/gateway"
	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/httpserver"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// Models of the gateway test and the backends that serve them.
const (
	gwSlow    = "hf:test/slow"    // 2 slots, each completion held slowHold
	gwStream  = "hf:test/stream"  // 2 slots, streamed words tokenGap apart
	gwSpawned = "hf:test/spawned" // spawned on demand, after a load delay
	slowHold  = 1500 * time.Millisecond
	tokenGap  = 100 * time.Millisecond
)

// TestGatewayOnLoopbackFleet drives the gateway of a real queen with real
// agents (installed over SSH on two loopback hosts) and real reference
// workers: an OpenAI client library, key checks, least-loaded routing and
// the queue, a worker killed mid-stream, spawn on demand and the idle
// timeout, and a queen with the queue off.
func TestGatewayOnLoopbackFleet(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Loopback, Hosts: 2, Prefix: "gw"})
	settings := gateway.Settings{QueueLength: 16, QueueWait: 10 * time.Second, IdleTimeout: 3 * time.Second,
		Models: []gateway.ModelSpec{{Model: gwSpawned, Backend: "slowload", DeviceKind: "cpu"}}}
	q := startGatewayQueen(t, settings)
	dumpAgentLogs(t, f)
	addNodes(t, q.queen, f)
	rep, _ := installNodes(t, q.queen, api.InstallRequest{All: true, Method: "upload"})
	requireResults(t, rep, api.ResultInstalled)
	for _, h := range f.Hosts {
		addGatewayBackends(t, h)
		q.hiveOp(t, h.Name, "stop")
		q.hiveOp(t, h.Name, "start")
	}
	var slow, stream []api.Worker
	for _, h := range f.Hosts {
		slow = append(slow, q.mustSpawn(t, api.SpawnWorkerRequest{Node: h.Name, ModelRef: gwSlow, Backend: "slow"}))
		stream = append(stream, q.mustSpawn(t, api.SpawnWorkerRequest{Node: h.Name, ModelRef: gwStream, Backend: "stream"}))
	}
	key := createKey(t, q, "test-client")

	t.Run("an OpenAI client: models, completion, chat, stream", func(t *testing.T) {
		testOpenAIClient(t, q.url, key)
	})
	t.Run("keys: wrong key, admin token, client key on admin routes", func(t *testing.T) {
		testGatewayKeys(t, q, key)
	})
	t.Run("unknown model is 404 listing the models", func(t *testing.T) {
		code, body, _ := gwPost(t, q.url, key, "/v1/completions", `{"model":"hf:test/nope","prompt":"hi"}`)
		if code != http.StatusNotFound || !strings.Contains(body, "model_not_found") ||
			!strings.Contains(body, gwSlow) || !strings.Contains(body, gwSpawned) {
			t.Errorf("unknown model: %d %s", code, body)
		}
	})
	t.Run("4 slow requests on 2 workers of 2 slots go 2+2; a 5th waits its turn", func(t *testing.T) {
		testLeastLoaded(t, q.url, key, slow)
	})
	t.Run("gateway metrics: requests, time to first byte and queue per model", func(t *testing.T) {
		checkGatewayMetrics(t, q.restartableQueen)
	})
	t.Run("a worker killed mid-stream", func(t *testing.T) {
		testKilledMidStream(t, q, key, stream)
	})
	t.Run("10 first requests spawn one worker, which the idle timeout stops", func(t *testing.T) {
		testSpawnOnDemand(t, q, key)
	})
	t.Run("queue off: the 5th request gets 429", func(t *testing.T) {
		settings.QueueLength = 0
		q.restartWith(t, settings)
		q.awaitWorkers(t, "?model="+gwSlow, 5*time.Second, slow[0].ID, slow[1].ID)
		codes, _ := concurrentSlow(t, q.url, key, 5)
		slices.Sort(codes)
		if !slices.Equal(codes, []int{200, 200, 200, 200, 429}) {
			t.Errorf("5 concurrent requests with the queue off: %v, want four 200 and one 429", codes)
		}
	})
}

// gatewayQueen is a restartableQueen served through shared/httpserver (the
// refusal log) whose log the test reads.
type gatewayQueen struct {
	*restartableQueen
	logs *lockedBuffer
}

func startGatewayQueen(t *testing.T, set gateway.Settings) *gatewayQueen {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "beehives.db")
	reg, err := hiveregistry.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	rq := &restartableQueen{addr: ln.Addr().String(), cfg: server.Config{
		Registry: reg, Token: token, Logger: slog.New(httpserver.LogHandler(slog.NewTextHandler(io.MultiWriter(t.Output(), logs), nil))),
		QueenURL: "http://" + ln.Addr().String(), AgentBinary: buildAgent(t),
		HeartbeatInterval: workerBeat, StaleAfter: workerStale, HeartbeatTimeout: 30 * time.Second, Gateway: set,
	}}
	rq.queen = &queen{url: "http://" + rq.addr, dbPath: dbPath, reg: reg}
	q := &gatewayQueen{restartableQueen: rq, logs: logs}
	q.serveLogged(ln)
	t.Cleanup(func() {
		rq.cancel()
		rq.srv.Close()
		reg.Close()
	})
	return q
}

func (q *gatewayQueen) serveLogged(ln net.Listener) {
	s := server.New(q.cfg)
	srv := httptest.NewUnstartedServer(httpserver.New(s.Handler(), httpserver.Limits{Logger: q.cfg.Logger}).Handler)
	srv.Listener = ln
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	q.srv, q.cancel = srv, cancel
}

// restartWith stops the queen and starts one with set on the same address
// and registry file.
func (q *gatewayQueen) restartWith(t *testing.T, set gateway.Settings) {
	t.Helper()
	q.cancel()
	q.srv.Close()
	ln, err := net.Listen("tcp", q.addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", q.addr, err)
	}
	q.cfg.Gateway = set
	q.serveLogged(ln)
}

// addGatewayBackends adds the reference worker with the gateway tests'
// knobs to a loopback host's agent config.
func addGatewayBackends(t *testing.T, h *fleet.Host) {
	t.Helper()
	file := filepath.Join(h.InstallDir, "hive-agent.json")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cfg api.AgentConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	base := cfg.Backends[0].Command
	for name, flags := range map[string][]string{
		"slow":     {"--slots", "2", "--completion-delay", slowHold.String()},
		"stream":   {"--slots", "2", "--token-delay", tokenGap.String()},
		"slowload": {"--slots", "4", "--load-delay", "1s"},
	} {
		cfg.Backends = append(cfg.Backends, api.Backend{Name: name, Command: append(slices.Clone(base), flags...), DeviceKind: api.BackendCPU})
	}
	cfg.WorkerStopGraceMS = 1000
	data, _ = json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func createKey(t *testing.T, q *gatewayQueen, name string) string {
	t.Helper()
	var k api.ClientKey
	if code := q.call(t, "POST", "/v1/keys", api.CreateKeyRequest{Name: name}, &k); code != http.StatusCreated || !strings.HasPrefix(k.Key, "rbk_") {
		t.Fatalf("create key: %d %+v", code, k)
	}
	return k.Key
}

func testOpenAIClient(t *testing.T, base, key string) {
	ctx := t.Context()
	c := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	page, err := c.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if want := []string{gwSlow, gwSpawned, gwStream}; !slices.Equal(ids, want) {
		t.Errorf("models %v, want %v", ids, want)
	}
	comp, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: gwStream,
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("the quick brown fox")}, MaxTokens: openai.Int(3)})
	if err != nil || len(comp.Choices) != 1 || len(strings.Fields(comp.Choices[0].Text)) != 3 || comp.Model != gwStream {
		t.Errorf("completion: %+v (%v)", comp, err)
	}
	params := openai.ChatCompletionNewParams{Model: gwStream,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("the quick brown fox")}, MaxTokens: openai.Int(5)}
	chat, err := c.Chat.Completions.New(ctx, params)
	if err != nil || len(chat.Choices) != 1 || len(strings.Fields(chat.Choices[0].Message.Content)) != 5 {
		t.Fatalf("chat: %+v (%v)", chat, err)
	}
	s := c.Chat.Completions.NewStreaming(ctx, params)
	var joined strings.Builder
	chunks := 0
	for s.Next() {
		chunks++
		if ch := s.Current(); len(ch.Choices) > 0 {
			joined.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := s.Err(); err != nil || chunks != 6 {
		t.Errorf("stream: %d chunks (%v), want 5 words and a finish", chunks, err)
	}
	// Both workers answer the prompt with their own words; the stream's
	// length is what both share.
	if n := len(strings.Fields(joined.String())); n != 5 {
		t.Errorf("streamed %q, want 5 words", joined.String())
	}
}

func testGatewayKeys(t *testing.T, q *gatewayQueen, key string) {
	tests := []struct {
		name, method, path, token string
		want                      int
	}{
		{"wrong key on the gateway", "GET", "/v1/models", "rbk_not-a-key", http.StatusUnauthorized},
		{"no key on the gateway", "POST", "/v1/completions", "", http.StatusUnauthorized},
		{"admin token on the gateway", "GET", "/v1/models", token, http.StatusForbidden},
		{"client key on an admin route", "GET", "/v1/workers/list", key, http.StatusForbidden},
		{"client key on the gateway", "GET", "/v1/models", key, http.StatusOK},
	}
	for _, tt := range tests {
		resp := q.do(t, tt.method, tt.path, nil, tt.token, false)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.want)
			continue
		}
		if tt.want != http.StatusOK && tt.path != "/v1/workers/list" && !json.Valid(body) || tt.want != http.StatusOK && !strings.Contains(string(body), `"message"`) {
			t.Errorf("%s: error body %s is not an error with a message", tt.name, body)
		}
		if tt.want != http.StatusOK && tt.token != "" && !strings.Contains(q.logs.String(), "token=sha256:"+tokenPrint(tt.token)) {
			t.Errorf("%s: the refusal is not logged with the token's fingerprint", tt.name)
		}
	}
	if strings.Contains(q.logs.String(), key) {
		t.Error("the queen logged a client key")
	}
}

func tokenPrint(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:6])
}

// gwPost sends a body to the gateway and returns the status, the body and
// the worker that answered.
func gwPost(t *testing.T, base, key, path, body string) (int, string, string) {
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+path, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	return resp.StatusCode, string(data), resp.Header.Get("X-Rbee-Worker")
}

// concurrentSlow sends n slow requests, 100 ms apart so their order is
// known, and returns their statuses and workers in that order.
func concurrentSlow(t *testing.T, base, key string, n int) (codes []int, workers []string) {
	codes, workers = make([]int, n), make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i], _, workers[i] = gwPost(t, base, key, "/v1/completions", `{"model":"`+gwSlow+`","prompt":"slow"}`)
		})
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	return codes, workers
}

func testLeastLoaded(t *testing.T, base, key string, slow []api.Worker) {
	start := time.Now()
	var fifth time.Duration
	codes, workers := make([]int, 5), make([]string, 5)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			codes[i], _, workers[i] = gwPost(t, base, key, "/v1/completions", `{"model":"`+gwSlow+`","prompt":"slow"}`)
			if i == 4 {
				fifth = time.Since(start)
			}
		})
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	per := map[string]int{}
	for _, w := range workers[:4] {
		per[w]++
	}
	if per[slow[0].ID] != 2 || per[slow[1].ID] != 2 {
		t.Errorf("first 4 requests went %v, want 2 to each of %s and %s", per, slow[0].ID, slow[1].ID)
	}
	if !slices.Equal(codes, []int{200, 200, 200, 200, 200}) {
		t.Errorf("statuses %v, want all 200", codes)
	}
	if fifth < 2*slowHold {
		t.Errorf("the 5th answered after %v, before a slot was free (each request holds one %v)", fifth, slowHold)
	}
}

func testKilledMidStream(t *testing.T, q *gatewayQueen, key string, stream []api.Worker) {
	req, _ := http.NewRequestWithContext(t.Context(), "POST", q.url+"/v1/completions",
		strings.NewReader(`{"model":"`+gwStream+`","prompt":"a long story","max_tokens":200,"stream":true}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: {") {
		t.Fatalf("first line %q (%v)", line, err)
	}
	victim := resp.Header.Get("X-Rbee-Worker")
	i := slices.IndexFunc(stream, func(w api.Worker) bool { return w.ID == victim })
	if i < 0 {
		t.Fatalf("stream served by %q, not one of the stream workers", victim)
	}
	if err := syscall.Kill(stream[i].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	rest, _ := io.ReadAll(rd)
	if !strings.Contains(string(rest), `"code":"worker_failed"`) || !strings.Contains(string(rest), victim) {
		t.Errorf("after the kill the stream ended with %q, want an error event naming %s", tail(string(rest)), victim)
	}
	for range 3 {
		code, _, by := gwPost(t, q.url, key, "/v1/completions", `{"model":"`+gwStream+`","prompt":"next"}`)
		if code != http.StatusOK || by == victim {
			t.Errorf("request after the kill: %d from %q, want 200 from the other worker", code, by)
		}
	}
	if took := time.Since(killed); took > time.Second {
		t.Errorf("the error event and the next requests took %v after the kill, want within 1s", took)
	}
}

func tail(s string) string {
	if len(s) > 300 {
		return s[len(s)-300:]
	}
	return s
}

func testSpawnOnDemand(t *testing.T, q *gatewayQueen, key string) {
	codes := make([]int, 10)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			codes[i], _, _ = gwPost(t, q.url, key, "/v1/chat/completions",
				`{"model":"`+gwSpawned+`","messages":[{"role":"user","content":"hello"}]}`)
		})
	}
	wg.Wait()
	if want := slices.Repeat([]int{200}, 10); !slices.Equal(codes, want) {
		t.Errorf("10 first requests: %v, want 10 × 200", codes)
	}
	spawned := q.workers(t, "?model="+gwSpawned)
	if n := strings.Count(q.logs.String(), "spawned on demand"); len(spawned) != 1 || n != 1 {
		t.Fatalf("%d workers of %s listed and %d spawns logged, want exactly 1", len(spawned), gwSpawned, n)
	}
	q.awaitWorkers(t, "?model="+gwSpawned, 10*time.Second)
	if alive(spawned[0].PID) {
		t.Errorf("idle worker %s (pid %d) still runs after the idle timeout", spawned[0].ID, spawned[0].PID)
	}
	if got := q.workers(t, "?node="+spawned[0].Node+"&model="+gwSpawned); len(got) != 0 {
		t.Errorf("its node still lists %v", ids(got))
	}
	if code, _, _ := gwPost(t, q.url, key, "/v1/completions", `{"model":"`+gwSpawned+`","prompt":"again"}`); code != http.StatusOK {
		t.Errorf("a request after the idle stop: %d, want 200 from a new spawn", code)
	}
}

// checkGatewayMetrics scrapes /metrics after the 2+2+1 requests of gwSlow
// and the unknown-model request: counts and histogram per model, a queue
// gauge per model, and no series for a model the gateway does not serve.
func checkGatewayMetrics(t *testing.T, q *restartableQueen) {
	t.Helper()
	resp := q.do(t, "GET", "/metrics", nil, token, false)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	if got := sample(families, "rbee_queen_gateway_requests_total", map[string]string{"model": gwSlow, "code": "200"}); got < 5 {
		t.Errorf("gateway requests of %s answered 200 = %v, want at least 5", gwSlow, got)
	}
	var firstBytes uint64
	for _, m := range metricsOf(families, "rbee_queen_gateway_first_byte_seconds") {
		if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == gwSlow {
			firstBytes = m.GetHistogram().GetSampleCount()
		}
	}
	if firstBytes < 5 {
		t.Errorf("time-to-first-byte samples of %s = %d, want at least 5", gwSlow, firstBytes)
	}
	if f := families["rbee_queen_gateway_queue_length"]; f == nil || len(metricsOf(families, "rbee_queen_gateway_queue_length")) == 0 {
		t.Errorf("no rbee_queen_gateway_queue_length series")
	}
	for _, name := range []string{"rbee_queen_gateway_requests_total", "rbee_queen_gateway_first_byte_seconds"} {
		for _, m := range metricsOf(families, name) {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "hf:test/nope" {
					t.Errorf("%s has a series for a model the gateway does not serve", name)
				}
			}
		}
	}
}
