package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/rbee-fleet/rbee/shared/api"
)

// readEvents reads NDJSON events until the last one and returns its result.
func (c *Client) readEvents(ctx context.Context, op string, resp *http.Response, onEvent func(api.Event)) (json.RawMessage, error) {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), MaxBodyBytes)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if c.streamCopy != nil {
			copied := append(append(make([]byte, 0, len(line)+1), line...), '\n')
			if _, err := c.streamCopy.Write(copied); err != nil {
				return nil, fmt.Errorf("%s: copy event: %w", op, err)
			}
		}
		var ev api.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, &ResponseError{Op: op, Err: fmt.Errorf("decode event: %w", err)}
		}
		if err := ev.Validate(); err != nil {
			return nil, &ResponseError{Op: op, Err: fmt.Errorf("bad event: %w", err)}
		}
		if onEvent != nil {
			onEvent(ev)
		}
		if !ev.Done {
			continue
		}
		if ev.Error != nil {
			return nil, &APIError{Status: resp.StatusCode, Detail: *ev.Error}
		}
		return ev.Result, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	err := sc.Err()
	switch {
	case errors.Is(err, bufio.ErrTooLong):
		return nil, &ResponseError{Op: op, Err: fmt.Errorf("event line over %d bytes", MaxBodyBytes)}
	case err != nil:
		return nil, &ResponseError{Op: op, Err: fmt.Errorf("%w: %w", ErrStreamCut, err)}
	}
	return nil, &ResponseError{Op: op, Err: ErrStreamCut}
}
