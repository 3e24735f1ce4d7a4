// Package metrics owns the queen's Prometheus registry and its collectors,
// served as `GET /metrics` in the Prometheus text format (README: Status page and metrics).
//
// What is counted as it happens (HTTP requests by route and code with a
// latency histogram, heartbeats accepted and rejected, install runs and the
// duration of each finished install phase, SSH dial errors) lives in
// counters and histograms of this package; what is a state (nodes by
// status, workers by state and model, SSH handshakes the queen counts
// itself) is read from its owner at scrape time, so a scrape always
// matches the registries.
//
// Heartbeats are counted from the HTTP route they arrive on: a 2xx answer
// to POST /v1/hives/{name}/heartbeat is accepted, anything else rejected.
// The gateway's per-model requests, queue length and time to first byte
// are not here yet: the gateway does not exist yet.
package metrics
