package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/rbee-fleet/rbee/shared/api"
)

// splitURLs splits a comma-separated list of queen URLs, trimmed, without
// trailing slashes; never empty.
func splitURLs(list string) []string {
	var urls []string
	for _, u := range strings.Split(list, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		urls = []string{strings.TrimSpace(list)}
	}
	return urls
}

// send sends a request to the queen that answered as active last and, when
// it cannot be dialled or answers 503 STANDBY, to the active queen it names
// (once) and then to the other queens of the list, each once. The request
// is replayed only where nothing was done: a dial failure or a standby's
// refusal.
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, body any, accept string) (*http.Response, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	var raw []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		raw = b
	}
	queue := c.order()
	tried := map[string]bool{}
	followed := false
	var lastResp *http.Response
	var lastErr error
	for len(queue) > 0 {
		base := queue[0]
		queue = queue[1:]
		if tried[base] {
			continue
		}
		tried[base] = true
		resp, err := c.sendTo(ctx, hc, base, method, path, raw, accept)
		if err != nil {
			if _, ok := errors.AsType[*UnreachableError](err); !ok {
				return nil, err
			}
			lastErr = err
			continue
		}
		active, standby := standbyAnswer(resp)
		if !standby {
			c.current.Store(&base)
			return resp, nil
		}
		lastResp, lastErr = resp, nil
		if active != "" && !followed && !tried[active] {
			followed = true
			queue = append([]string{active}, queue...)
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return lastResp, nil
}

// order lists the queens to try: the last active one first, then the
// others in the order given.
func (c *Client) order() []string {
	cur := *c.current.Load()
	out := []string{cur}
	for _, u := range c.urls {
		if u != cur {
			out = append(out, u)
		}
	}
	return out
}

// standbyAnswer reports whether resp is a standby's 503 STANDBY and the
// active queen it names; resp's body stays readable.
func standbyAnswer(resp *http.Response) (active string, standby bool) {
	if resp.StatusCode != http.StatusServiceUnavailable {
		return "", false
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var body api.ErrorBody
	if json.Unmarshal(b, &body) != nil || body.Error.Code != api.CodeStandby {
		return "", false
	}
	return strings.TrimRight(resp.Header.Get(api.HeaderActiveQueen), "/"), true
}

// URLs returns the queen URLs of a comma-separated list as [New] reads it.
func URLs(list string) []string { return splitURLs(list) }
