package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// SpawnSlack is how much longer than its ready timeout [Client.SpawnWorker]
// waits for the queen's answer: the queen answers only once the worker is
// ready or the timeout has passed, and it still has to forward the request
// to the agent and report back.
const SpawnSlack = 30 * time.Second

// ListWorkers returns the workers that pass f, in the queen's order
// (GET /v1/workers/list?node=&model=&capability=&state=). A filter value the
// queen rejects is an [*APIError] with code INVALID_FIELD.
func (c *Client) ListWorkers(ctx context.Context, f api.WorkerFilter) (api.WorkerList, error) {
	var l api.WorkerList
	err := c.Do(ctx, http.MethodGet, workersListPath(f), nil, &l)
	return l, err
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

// workersListPath returns the list route with the set fields of f as query
// parameters.
func workersListPath(f api.WorkerFilter) string {
	q := url.Values{}
	for name, v := range map[string]string{
		"node": f.Node, "model": f.Model, "capability": f.Capability, "state": f.State,
	} {
		if v != "" {
			q.Set(name, v)
		}
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
