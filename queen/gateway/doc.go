// Package gateway is the queen's OpenAI-compatible endpoint for the whole
// fleet (README: The gateway): GET /v1/models, POST /v1/completions and
// POST /v1/chat/completions, answered by the fleet's ready workers.
//
// Clients authenticate with a client key (Authorization: Bearer <key>),
// never the admin token, which gets 403. Request and response bodies pass
// through untouched: the gateway reads only "model" and "stream" from the
// request, and relays the worker's status, headers and body as they
// arrive, so a streamed answer (server-sent events, no Content-Length)
// reaches the client event by event: every read from the worker is
// flushed, except the one that brings the end, which leaves with the end
// of the answer. An answer of known length keeps its Content-Length and
// is not flushed early (one write instead of a chunked answer and its
// end). A client that goes away cancels the request to the worker.
//
// # Routing
//
// The gateway keeps a routing table of the queen's worker registry, built
// once from every record (walked without a copy of the fleet) and then
// kept up with the records the registry's change log names, so a change
// costs what it changes, not a pass over 160,000 workers; it counts the
// requests it has in flight on each worker. A request goes to the worker of its model,
// among those the registry lists idle or busy (never loading, unhealthy,
// stopping or failed), with the fewest requests in flight relative to its
// slots_total; ties go round-robin (the first such worker after the one
// picked last, in the table's order). The pick costs O(log n) for a model
// of n workers however loaded they are: each model keeps its workers in a
// segment tree holding, per subtree, the lightest load (in flight over
// slots, compared exactly), and the pick walks one path for the lightest
// load and one for its first holder from the round-robin position (about
// 0.3 µs at 10,000 workers that all have requests in flight, where a
// scan took 33 µs; BenchmarkRoutingDecision). The registry's idle/busy comes from
// the agent's health checks, seconds old; the gateway's own count is
// exact, so a worker with as many requests in flight as slots is full for
// routing whatever the registry says. A worker that could not be reached
// before any byte of the request was sent is left out of routing and the
// next worker is tried; it comes back when its agent reports it again
// (a new pid) or after 10 s. An error after the request was sent is a 502
// naming the worker, or, once a streamed answer has started, an error
// event and the end of the stream.
//
// # Queueing
//
// When every worker of the model is full, the request waits in a FIFO
// queue of that model, at most Settings.QueueLength requests for at most
// Settings.QueueWait; past the length it gets 429, past the wait 503, both
// with Retry-After. A finished request hands its slot to the head of the
// queue.
//
// # Spawn on demand and idle workers
//
// Settings.Models lists the models that may be spawned and how. A request
// for such a model with no ready or loading worker starts one spawn (the
// requests that come meanwhile queue for it): on the online node with the
// most free memory of the model's device kind (GPU memory free as
// nvidia-smi reports it, or the node's RAM), trying the next node when a
// spawn fails. A model neither served nor spawnable gets 404 with the list
// of models the gateway can serve.
//
// A worker with no request for Settings.IdleTimeout is stopped through
// its agent. Only workers the gateway spawned are stopped, unless
// Settings.IdleStopManual is set.
//
// Workers are reached through Config.DialContext, per node, so a transport
// other than plain TCP (an SSH connection pool) can be plugged in; each
// node gets its own connection pool, keeping up to 256 idle connections
// per worker and 1024 per node, so concurrent requests reuse connections
// rather than dial one each (BenchmarkGatewayVsDirect reports the dials).
//
// # Cost
//
// A routing decision costs O(log n) (see Routing). A proxied request costs
// the gateway about 7 read and write system calls (read the request,
// write it to the worker, read the answer, write it on, and three reads
// that find nothing yet: net/http waiting for the client's next request,
// for its disconnect and for the worker's next answer), plus a read and a
// write per event of a stream that the worker sends apart; connections to
// workers are reused, not dialled per request. On a 2-core machine that
// is about 75–110 µs of CPU per completion and 230–270 µs per stream of 10
// events sent 20 ms apart, close to what the reference worker itself
// spends. So where clients, gateway and workers share the cores, workers
// that answer at once lose about half their throughput behind the
// gateway, and workers that answer at a model's pace lose none
// (BenchmarkGatewayVsDirect: 0.54× unpaced, 0.99× paced).
//
// The entry point is [New]; [Gateway.Run] keeps the routing table and
// stops idle workers.
package gateway
