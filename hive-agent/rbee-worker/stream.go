package main

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"time"
)

// streamChunk is one server-sent event of a streamed completion or chat
// completion. Choices holds one choice: a streamCompletionChoice or a
// streamChatChoice.
type streamChunk struct {
	ID      string           `json:"id"`
	Object  string           `json:"object"`
	Created int64            `json:"created"`
	Model   string           `json:"model"`
	Choices []any            `json:"choices"`
	Usage   *completionUsage `json:"usage,omitempty"`
}

type streamCompletionChoice struct {
	Index        int       `json:"index"`
	Text         string    `json:"text"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type streamChatChoice struct {
	Index        int         `json:"index"`
	Delta        chatContent `json:"delta"`
	FinishReason *string     `json:"finish_reason"`
}

// sse writes server-sent events, flushing each one.
type sse struct {
	rw      http.ResponseWriter
	flusher *http.ResponseController
}

// startSSE sends the headers of an event stream.
func startSSE(rw http.ResponseWriter) *sse {
	rw.Header().Set("Content-Type", "text/event-stream")
	rw.Header().Set("Cache-Control", "no-cache")
	rw.WriteHeader(http.StatusOK)
	return &sse{rw: rw, flusher: http.NewResponseController(rw)}
}

// send writes one "data:" event with v as JSON; an error means the caller
// went away.
func (s *sse) send(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.raw(data)
}

func (s *sse) raw(data []byte) error {
	if _, err := s.rw.Write(append(append([]byte("data: "), data...), '\n', '\n')); err != nil {
		return err
	}
	return s.flusher.Flush()
}

// streamWords sends the answer a word per event, --token-delay apart,
// then the final event with the finish reason and usage, then [DONE].
// chunk makes the choice of one event; a nil finish marks a word.
func (w *worker) streamWords(rw http.ResponseWriter, r *http.Request, object, id string, words []string,
	finish string, usage completionUsage, chunk func(i int, word string, finish *string) any) {
	out := startSSE(rw)
	base := streamChunk{ID: id, Object: object, Created: time.Now().Unix(), Model: w.cfg.ModelRef}
	for i, word := range words {
		if i > 0 && w.cfg.TokenDelay > 0 && sleep(r.Context(), w.cfg.TokenDelay) != nil {
			return
		}
		ev := base
		ev.Choices = []any{chunk(i, word, nil)}
		if out.send(ev) != nil {
			return
		}
	}
	last := base
	last.Choices = []any{chunk(len(words), "", &finish)}
	last.Usage = &usage
	if out.send(last) == nil {
		_ = out.raw([]byte("[DONE]"))
	}
}

// streamCompletion streams a text completion: each event's text is " word".
func (w *worker) streamCompletion(rw http.ResponseWriter, r *http.Request, req completionRequest) {
	words, finish := completionWords(w.cfg.WorkerID, req.Prompt, tokenLimit(req.MaxTokens))
	w.streamWords(rw, r, "text_completion", "cmpl-"+rand.Text(), words, finish, usageOf(req.Prompt, words),
		func(_ int, word string, finish *string) any {
			if finish != nil {
				return streamCompletionChoice{FinishReason: finish}
			}
			return streamCompletionChoice{Text: " " + word}
		})
}

// streamChat streams a chat completion: the first delta carries the role,
// and the deltas' contents join to the non-streamed answer's content.
func (w *worker) streamChat(rw http.ResponseWriter, r *http.Request, req chatRequest) {
	prompt := req.prompt()
	words, finish := completionWords(w.cfg.WorkerID, prompt, tokenLimit(req.MaxTokens))
	w.streamWords(rw, r, "chat.completion.chunk", "chatcmpl-"+rand.Text(), words, finish, usageOf(prompt, words),
		func(i int, word string, finish *string) any {
			switch {
			case finish != nil:
				return streamChatChoice{FinishReason: finish}
			case i == 0:
				return streamChatChoice{Delta: chatContent{Role: "assistant", Content: word}}
			}
			return streamChatChoice{Delta: chatContent{Content: " " + word}}
		})
}
