package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/rbee-fleet/rbee/shared/api"
)

// listPage is one answer of GET /v1/workers/list; NextCursor is set by a
// queen that pages the list.
type listPage struct {
	Workers    []api.Worker `json:"workers"`
	NextCursor string       `json:"next_cursor"`
}

// ListWorkers returns every worker GET /v1/workers/list shows with the
// filter query (e.g. "node=gpu-1", "" for all), following next_cursor
// when the queen pages its answer.
func ListWorkers(ctx context.Context, baseURL, adminToken, query string) ([]api.Worker, error) {
	var all []api.Worker
	cursor := ""
	for {
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, fmt.Errorf("loadgen: list query %q: %w", query, err)
		}
		q.Set("limit", "5000")
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		page, err := ListPage(ctx, baseURL, adminToken, q.Encode())
		if err != nil {
			return nil, err
		}
		all = append(all, page.Workers...)
		if page.NextCursor == "" || len(page.Workers) == 0 {
			return all, nil
		}
		cursor = page.NextCursor
	}
}

// ListPage GETs one answer of /v1/workers/list?query.
func ListPage(ctx context.Context, baseURL, adminToken, query string) (listPage, error) {
	var page listPage
	u := strings.TrimRight(baseURL, "/") + "/v1/workers/list?" + query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return page, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return page, fmt.Errorf("loadgen: list workers: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return page, fmt.Errorf("loadgen: GET %s: %s: %s", u, resp.Status, msg)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return page, fmt.Errorf("loadgen: decode the worker list: %w", err)
	}
	return page, nil
}

// Diff compares the workers a queen lists with the fleet's truth, every
// field but the queen's heartbeat time, and returns the differences, at
// most max of them: ghosts (listed, not true), missing ones, duplicates
// and changed fields.
func Diff(truth, listed []api.Worker, max int) []string {
	var out []string
	add := func(format string, a ...any) {
		if len(out) < max {
			out = append(out, fmt.Sprintf(format, a...))
		}
	}
	want := make(map[string]api.Worker, len(truth))
	for _, w := range truth {
		want[w.ID] = w
	}
	seen := make(map[string]bool, len(listed))
	for _, got := range listed {
		if seen[got.ID] {
			add("%s listed twice", got.ID)
			continue
		}
		seen[got.ID] = true
		w, ok := want[got.ID]
		if !ok {
			add("ghost %s/%s", got.Node, got.ID)
			continue
		}
		got.LastHeartbeatUnix = 0
		if !sameRecord(got, w) {
			add("%s: listed %+v, true %+v", got.ID, got, w)
		}
	}
	for _, w := range truth {
		if !seen[w.ID] {
			add("missing %s/%s", w.Node, w.ID)
		}
	}
	return out
}

// sameRecord compares two records field by field, ExitCode by value.
func sameRecord(a, b api.Worker) bool {
	if (a.ExitCode == nil) != (b.ExitCode == nil) || a.ExitCode != nil && *a.ExitCode != *b.ExitCode {
		return false
	}
	a.ExitCode, b.ExitCode = nil, nil
	return a == b
}
