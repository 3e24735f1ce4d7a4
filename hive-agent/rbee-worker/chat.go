package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// chatRequest is the part of an OpenAI chat completion request this worker
// reads; other fields (temperature, tools, …) are accepted and ignored.
type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
	// MaxTokens caps the answer's words; nil means defaultMaxTokens. The
	// newer max_completion_tokens is read too.
	MaxTokens           *int `json:"max_tokens"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
	Stream              bool `json:"stream"`
}

// chatMessage is one message; Content is a string or a list of parts of
// which the "text" ones count.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

func (r *chatRequest) validate() error {
	if len(r.Messages) == 0 {
		return fmt.Errorf("%w messages []: must hold at least one message", errInvalidField)
	}
	for i, m := range r.Messages {
		if _, err := m.text(); err != nil {
			return fmt.Errorf("%w messages[%d].content: %w", errInvalidField, i, err)
		}
	}
	if r.MaxTokens == nil {
		r.MaxTokens = r.MaxCompletionTokens
	}
	return validateMaxTokens(r.MaxTokens)
}

// text returns the message's text: the string content, or its text parts
// joined by spaces.
func (m chatMessage) text() (string, error) {
	if len(m.Content) == 0 || string(m.Content) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", errors.New("must be a string or a list of content parts")
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " "), nil
}

// prompt is the text of every message, one per line: what the answer is
// made from.
func (r *chatRequest) prompt() string {
	lines := make([]string, 0, len(r.Messages))
	for _, m := range r.Messages {
		text, _ := m.text() // validate checked it
		lines = append(lines, text)
	}
	return strings.Join(lines, "\n")
}

type chatResponse struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []chatChoice    `json:"choices"`
	Usage   completionUsage `json:"usage"`
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      chatContent `json:"message"`
	FinishReason string      `json:"finish_reason"`
}

// chatContent is a message of the answer, or the delta of a streamed one.
type chatContent struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content"`
}

// chat answers req with the same words a text completion of its prompt
// gets.
func (w *worker) chat(req chatRequest) chatResponse {
	prompt := req.prompt()
	words, finish := completionWords(w.cfg.WorkerID, prompt, tokenLimit(req.MaxTokens))
	return chatResponse{
		ID:      "chatcmpl-" + rand.Text(),
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   w.cfg.ModelRef,
		Choices: []chatChoice{{
			Message:      chatContent{Role: "assistant", Content: strings.Join(words, " ")},
			FinishReason: finish,
		}},
		Usage: usageOf(prompt, words),
	}
}
