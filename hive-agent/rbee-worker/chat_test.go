package main

// In-process tests of chat completions and streamed answers.

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestChatAnswersWithTheCompletionWords checks that a chat completion is
// the text completion of its messages' text, whatever the content shape.
func TestChatAnswersWithTheCompletionWords(t *testing.T) {
	w := newTestWorker(t, 1, true)
	tests := []struct {
		name, body, prompt string
	}{
		{"string content", `{"messages":[{"role":"user","content":"the quick brown fox"}]}`, "the quick brown fox"},
		{"content parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"the quick"},{"type":"image_url"},{"type":"text","text":"brown fox"}]}]}`, "the quick brown fox"},
		{"two messages", `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_completion_tokens":3}`, "be brief\nhi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(w, http.MethodPost, "/v1/chat/completions", tt.body)
			var got chatResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("chat = %d %s (%v)", rec.Code, rec.Body, err)
			}
			var req chatRequest
			_ = json.Unmarshal([]byte(tt.body), &req)
			words, finish := completionWords(testWorkerID, tt.prompt, tokenLimit(req.MaxCompletionTokens))
			c := got.Choices[0]
			if c.Message.Role != "assistant" || c.Message.Content != strings.Join(words, " ") || c.FinishReason != finish ||
				got.Object != "chat.completion" || !strings.HasPrefix(got.ID, "chatcmpl-") || got.Model != testModelRef {
				t.Errorf("chat answer %+v, want assistant %q finish %s", got, strings.Join(words, " "), finish)
			}
		})
	}
}

func TestChatRejectsBadRequests(t *testing.T) {
	w := newTestWorker(t, 1, true)
	for name, body := range map[string]string{
		"no messages":       `{"messages":[]}`,
		"content as number": `{"messages":[{"role":"user","content":42}]}`,
		"max_tokens 0":      `{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}`,
	} {
		rec := serve(w, http.MethodPost, "/v1/chat/completions", body)
		if got := decodeError(t, rec); rec.Code != http.StatusBadRequest || got.Code != codeInvalidField {
			t.Errorf("%s: %d %+v, want 400 %s", name, rec.Code, got, codeInvalidField)
		}
	}
	if len(w.slots) != 0 {
		t.Errorf("%d slots taken after refused requests", len(w.slots))
	}
}

// TestStreamsJoinToTheWholeAnswer streams a completion and a chat and
// checks that the events join to the non-streamed answer and end with a
// finish reason and [DONE].
func TestStreamsJoinToTheWholeAnswer(t *testing.T) {
	w := newTestWorker(t, 1, true)
	tests := []struct {
		name, path, body string
		text             func(event []byte) (text string, finish *string)
	}{
		{"completion", "/v1/completions", `{"prompt":"the quick brown fox","stream":true}`, func(ev []byte) (string, *string) {
			var c struct{ Choices []streamCompletionChoice }
			_ = json.Unmarshal(ev, &c)
			return c.Choices[0].Text, c.Choices[0].FinishReason
		}},
		{"chat", "/v1/chat/completions", `{"messages":[{"role":"user","content":"the quick brown fox"}],"stream":true}`, func(ev []byte) (string, *string) {
			var c struct{ Choices []streamChatChoice }
			_ = json.Unmarshal(ev, &c)
			return c.Choices[0].Delta.Content, c.Choices[0].FinishReason
		}},
	}
	words, finish := completionWords(testWorkerID, "the quick brown fox", defaultMaxTokens)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(w, http.MethodPost, tt.path, tt.body)
			if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusOK || ct != "text/event-stream" {
				t.Fatalf("stream = %d %s", rec.Code, ct)
			}
			events := dataLines(rec.Body.String())
			if len(events) != len(words)+2 || events[len(events)-1] != "[DONE]" {
				t.Fatalf("%d events ending %q, want %d words, a finish and [DONE]", len(events), events[len(events)-1], len(words))
			}
			var joined strings.Builder
			for _, ev := range events[:len(words)] {
				text, fin := tt.text([]byte(ev))
				if fin != nil {
					t.Errorf("word event %s has a finish reason", ev)
				}
				joined.WriteString(text)
			}
			if got := strings.TrimSpace(joined.String()); got != strings.Join(words, " ") {
				t.Errorf("streamed text %q, want %q", got, strings.Join(words, " "))
			}
			if _, fin := tt.text([]byte(events[len(words)])); fin == nil || *fin != finish {
				t.Errorf("last event %s, want finish_reason %s", events[len(words)], finish)
			}
		})
	}
}

// TestStreamEndsWhenTheClientLeaves cancels a slow stream and checks that
// its slot is free again at once.
func TestStreamEndsWhenTheClientLeaves(t *testing.T) {
	w := newTestWorker(t, 1, true)
	w.cfg.TokenDelay = time.Hour
	srv := httptest.NewServer(w.routes())
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/completions", strings.NewReader(`{"prompt":"hi","stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: {") {
		t.Fatalf("first line %q (%v), want a data event", line, err)
	}
	if len(w.slots) != 1 {
		t.Fatalf("%d slots taken mid-stream, want 1", len(w.slots))
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(2 * time.Second)
	for len(w.slots) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(w.slots) != 0 {
		t.Errorf("the slot is still taken 2s after the client left")
	}
}

// dataLines returns the payloads of the "data: " lines of an event stream.
func dataLines(stream string) []string {
	var out []string
	for line := range strings.SplitSeq(stream, "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, data)
		}
	}
	return out
}
