package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// Limits of max_tokens, counted in words: this worker's tokens are words.
const (
	defaultMaxTokens = 16
	maxMaxTokens     = 4096
)

// Every prompt has a natural answer length of minNatural to
// minNatural+naturalSpread-1 words; an answer cut short by max_tokens ends
// with finish_reason "length", a whole one with "stop".
const (
	minNatural    = 8
	naturalSpread = 17
)

// vocabulary pads the prompt's own words, so an empty prompt gets text too.
var vocabulary = []string{"bee", "hive", "queen", "honey", "comb", "nectar", "pollen", "swarm", "drone", "wax", "flower", "field"}

// errInvalidField is wrapped by a completion request that decodes but breaks
// a rule; the message reads "invalid <field> <value>: <rule>".
var errInvalidField = errors.New("invalid")

// completionRequest is the part of an OpenAI completion request this worker
// reads; other fields (temperature, stop, …) are accepted and ignored.
type completionRequest struct {
	// Model is ignored: the worker serves --model-ref only, and answers
	// with it.
	Model  string `json:"model"`
	Prompt string `json:"prompt"`
	// MaxTokens caps the answer's words; nil means defaultMaxTokens.
	MaxTokens *int `json:"max_tokens"`
	// Stream asks for the answer as server-sent events, a word per event.
	Stream bool `json:"stream"`
}

func (r *completionRequest) validate() error { return validateMaxTokens(r.MaxTokens) }

// validateMaxTokens checks max_tokens when it is given.
func validateMaxTokens(n *int) error {
	if n != nil && (*n < 1 || *n > maxMaxTokens) {
		return fmt.Errorf("%w max_tokens %d: must be 1–%d", errInvalidField, *n, maxMaxTokens)
	}
	return nil
}

// tokenLimit is max_tokens, or defaultMaxTokens when it is not given.
func tokenLimit(n *int) int {
	if n != nil {
		return *n
	}
	return defaultMaxTokens
}

type completionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   completionUsage    `json:"usage"`
}

type completionChoice struct {
	Index int    `json:"index"`
	Text  string `json:"text"`
	// Logprobs is always null: there are no probabilities to report.
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

type completionUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// complete answers req; only id and created differ between equal requests.
func (w *worker) complete(req completionRequest) completionResponse {
	words, finish := completionWords(w.cfg.WorkerID, req.Prompt, tokenLimit(req.MaxTokens))
	return completionResponse{
		ID:      "cmpl-" + rand.Text(),
		Object:  "text_completion",
		Created: time.Now().Unix(),
		Model:   w.cfg.ModelRef,
		Choices: []completionChoice{{Text: " " + strings.Join(words, " "), FinishReason: finish}},
		Usage:   usageOf(req.Prompt, words),
	}
}

// usageOf counts the words of the prompt and of the answer.
func usageOf(prompt string, words []string) completionUsage {
	n := len(strings.Fields(prompt))
	return completionUsage{PromptTokens: n, CompletionTokens: len(words), TotalTokens: n + len(words)}
}

// completionWords returns the deterministic answer to prompt from the worker
// workerID: words picked from the prompt's words and the vocabulary by a
// generator seeded with both strings. The natural length comes from the same
// seed; maxTokens cuts it, and the answer to a smaller maxTokens is a prefix
// of the answer to a larger one. finish is "stop" for a whole answer and
// "length" for a cut one.
func completionWords(workerID, prompt string, maxTokens int) (words []string, finish string) {
	h := fnv.New64a()
	h.Write([]byte(workerID))
	h.Write([]byte{0})
	h.Write([]byte(prompt))
	state := h.Sum64()

	pool := slices.Concat(strings.Fields(prompt), vocabulary)
	natural := minNatural + int(state%naturalSpread)
	n := min(natural, maxTokens)
	words = make([]string, n)
	for i := range words {
		state += splitmixGamma
		words[i] = pool[splitmix64(state)%uint64(len(pool))]
	}
	if n < natural {
		return words, "length"
	}
	return words, "stop"
}

// splitmixGamma is the SplitMix64 state increment.
const splitmixGamma = 0x9e3779b97f4a7c15

// splitmix64 is the output function of the SplitMix64 generator: cheap, and
// every output bit depends on every input bit.
func splitmix64(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
