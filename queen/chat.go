package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// chatCmd is `queen chat`: the smallest real client of the gateway.
type chatCmd struct {
	Model     string `required:"" placeholder:"MODEL" help:"Model to ask, as GET /v1/models lists it."`
	Key       string `env:"RBEE_API_KEY" placeholder:"KEY" help:"Client key (queen keys create); default \\$RBEE_API_KEY."`
	MaxTokens int    `name:"max-tokens" default:"64" help:"Longest answer, in tokens."`
	Prompt    string `arg:"" help:"What to ask."`
}

// Run sends the prompt to the gateway and prints the answer as it
// streams in.
func (c *chatCmd) Run(ctx context.Context, g *Globals) error {
	if c.Key == "" {
		return withHint(errors.New("no client key"), "create one with `queen keys create --name NAME` and pass it with --key or RBEE_API_KEY")
	}
	body, _ := json.Marshal(map[string]any{"model": c.Model, "stream": true, "max_tokens": c.MaxTokens,
		"messages": []map[string]string{{"role": "user", "content": c.Prompt}}})
	queen := activeQueenURL(ctx, g.QueenURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, queen+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("check --queen-url: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return withHint(fmt.Errorf("reach the gateway at %s: %w", queen, err), "start it with `queen serve` or pass --queen-url")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return gatewayError(resp)
	}
	return printDeltas(resp.Body, os.Stdout)
}

// gatewayError turns an error answer in the OpenAI shape into an error.
func gatewayError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb struct {
		Error struct{ Message, Code string }
	}
	if json.Unmarshal(raw, &eb) != nil || eb.Error.Message == "" {
		return fmt.Errorf("gateway answered %s: %q", resp.Status, bytes.TrimSpace(raw))
	}
	return fmt.Errorf("gateway answered %s (%s): %s", resp.Status, eb.Error.Code, eb.Error.Message)
}

// printDeltas writes the content of each chat chunk of an event stream as
// it arrives, then a newline; an error event ends it with that error.
func printDeltas(r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string }
			}
			Error *struct{ Message string }
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return fmt.Errorf("gateway sent an event that is not a chat chunk: %w", err)
		}
		if chunk.Error != nil {
			fmt.Fprintln(w)
			return fmt.Errorf("the answer broke off: %s", chunk.Error.Message)
		}
		for _, ch := range chunk.Choices {
			fmt.Fprint(w, ch.Delta.Content)
		}
	}
	fmt.Fprintln(w)
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	return nil
}
