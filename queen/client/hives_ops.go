package client

import (
	"context"
	"net/http"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Install installs or updates the hive agent on the nodes req names, or on
// every node when req.All is set (POST /v1/install), calling onEvent (if not
// nil) for every progress event, the last one included. It returns the
// queen's report, one result per node. A node that failed is a result, not
// an error: the caller checks [api.ResultFailed]. Errors are the request's
// own (unknown node, bad method, token) or a stream cut short.
func (c *Client) Install(ctx context.Context, req api.InstallRequest, onEvent func(api.Event)) (api.InstallReport, error) {
	var r api.InstallReport
	err := c.streamInto(ctx, http.MethodPost, "/v1/install", req, onEvent, &r)
	return r, err
}

// Uninstall stops a node's agent and removes what install created
// (POST /v1/hives/{name}/uninstall), and returns the node's status after it.
// onEvent is as for [Client.Install].
func (c *Client) Uninstall(ctx context.Context, name string, req api.UninstallRequest, onEvent func(api.Event)) (api.HiveStatus, error) {
	var st api.HiveStatus
	err := c.streamInto(ctx, http.MethodPost, nodePath(name)+"/uninstall", req, onEvent, &st)
	return st, err
}

// StartHive starts a node's agent over SSH (POST /v1/hives/{name}/start) and
// returns the node's status after it. onEvent is as for [Client.Install].
func (c *Client) StartHive(ctx context.Context, name string, onEvent func(api.Event)) (api.HiveStatus, error) {
	var st api.HiveStatus
	err := c.streamInto(ctx, http.MethodPost, nodePath(name)+"/start", nil, onEvent, &st)
	return st, err
}

// StopHive stops a node's agent over SSH (POST /v1/hives/{name}/stop) and
// returns the node's status after it. onEvent is as for [Client.Install].
func (c *Client) StopHive(ctx context.Context, name string, onEvent func(api.Event)) (api.HiveStatus, error) {
	var st api.HiveStatus
	err := c.streamInto(ctx, http.MethodPost, nodePath(name)+"/stop", nil, onEvent, &st)
	return st, err
}

// HiveStatus returns a node's agent status: its last heartbeat and whether
// it answers its health route now (GET /v1/hives/{name}/status).
func (c *Client) HiveStatus(ctx context.Context, name string) (api.HiveStatus, error) {
	var st api.HiveStatus
	err := c.Do(ctx, http.MethodGet, nodePath(name)+"/status", nil, &st)
	return st, err
}
