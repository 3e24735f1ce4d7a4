package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// SpawnSlack is how much longer than its ready timeout [Client.SpawnWorker]
// waits for the queen's answer: the queen answers only once the worker is
// ready or the timeout has passed, and it still has to forward the request
// to the agent and report back.
const SpawnSlack = 30 * time.Second

// ListWorkers returns every worker that passes f, in the queen's order
// (node, then id), following the pages of GET /v1/workers/list. It holds
// the whole fleet in memory: to print or count a large fleet, walk it with
// [Client.EachWorkerPage]. A filter value the queen rejects is an
// [*APIError] with code INVALID_FIELD.
func (c *Client) ListWorkers(ctx context.Context, f api.WorkerFilter) (api.WorkerList, error) {
	l := api.WorkerList{Workers: []api.Worker{}}
	err := c.EachWorkerPage(ctx, f, api.MaxWorkerPageLimit, func(page []api.Worker) error {
		l.Workers = append(l.Workers, page...)
		return nil
	})
	return l, err
}

// ListWorkersPage returns one page of the workers that pass f
// (GET /v1/workers/list?…&limit=&cursor=): at most limit workers (0: the
// queen's default, 500) after cursor ("" for the first page), and the
// cursor of the next page in NextCursor, empty on the last. A cursor the
// queen did not give out is an [*APIError] with code INVALID_CURSOR.
func (c *Client) ListWorkersPage(ctx context.Context, f api.WorkerFilter, limit int, cursor string) (api.WorkerPage, error) {
	var p api.WorkerPage
	err := c.Do(ctx, http.MethodGet, workersListPath(f, limit, cursor), nil, &p)
	return p, err
}

// EachWorkerPage calls fn with each page of the workers that pass f, in
// the queen's order, limit workers a page (0: the queen's default), until
// the last page or an error of fn, which it returns. A worker registered
// or removed during the walk may or may not be shown, but none is shown
// twice and none that stays registered is missed.
func (c *Client) EachWorkerPage(ctx context.Context, f api.WorkerFilter, limit int, fn func(page []api.Worker) error) error {
	cursor := ""
	for {
		p, err := c.ListWorkersPage(ctx, f, limit, cursor)
		if err != nil {
			return err
		}
		if err := fn(p.Workers); err != nil {
			return err
		}
		if p.NextCursor == "" {
			return nil
		}
		cursor = p.NextCursor
	}
}

// SpawnWorker asks the queen to start a worker on req.Node and returns it
// once it is ready (POST /v1/workers/spawn). The queen holds the request
// until then, so the call is bounded by [SpawnWait] instead of the client's
// timeout for plain requests; ctx may end it sooner.
func (c *Client) SpawnWorker(ctx context.Context, req api.SpawnWorkerRequest) (api.Worker, error) {
	var w api.Worker
	err := c.within(SpawnWait(req.ReadyTimeoutMS)).Do(ctx, http.MethodPost, "/v1/workers/spawn", req, &w)
	return w, err
}

// SpawnWait returns how long [Client.SpawnWorker] waits for the queen's
// answer to a spawn whose ready timeout is readyTimeoutMS (0 or less: the
// queen's default, [api.DefaultReadyTimeoutMS]).
func SpawnWait(readyTimeoutMS int64) time.Duration {
	if readyTimeoutMS <= 0 {
		readyTimeoutMS = api.DefaultReadyTimeoutMS
	}
	return time.Duration(readyTimeoutMS)*time.Millisecond + SpawnSlack
}

// StopWorker asks the queen to stop a worker and returns its record as it
// was when the stop began (state stopping), once its process is gone
// (POST /v1/workers/{id}/stop). An unknown worker is an error for which
// [IsNotFound] is true.
func (c *Client) StopWorker(ctx context.Context, id string) (api.Worker, error) {
	var w api.Worker
	err := c.Do(ctx, http.MethodPost, "/v1/workers/"+url.PathEscape(id)+"/stop", nil, &w)
	return w, err
}

// workersListPath returns the list route with the set fields of f, a
// positive limit and a cursor as query parameters.
func workersListPath(f api.WorkerFilter, limit int, cursor string) string {
	q := url.Values{}
	for name, v := range map[string]string{
		"node": f.Node, "model": f.Model, "capability": f.Capability, "state": f.State, "cursor": cursor,
	} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return "/v1/workers/list"
	}
	return "/v1/workers/list?" + q.Encode() // Encode sorts by name
}

// within returns a copy of c whose plain requests are bounded by d instead
// of its timeout. The copy shares c's transport, and so its connections.
func (c *Client) within(d time.Duration) *Client {
	hc := *c.plain
	hc.Timeout = d
	cc := *c
	cc.plain = &hc
	return &cc
}
