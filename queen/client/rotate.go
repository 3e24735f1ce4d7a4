package client

import (
	"context"
	"net/http"

	"github.com/rbee-fleet/rbee/shared/api"
)

// RotateTokens gives a node's agent fresh hive and agent tokens without a
// restart (POST /v1/hives/{name}/rotate-token) and returns the node's
// status after it. onEvent is as for [Client.Install].
func (c *Client) RotateTokens(ctx context.Context, name string, onEvent func(api.Event)) (api.HiveStatus, error) {
	var st api.HiveStatus
	err := c.streamInto(ctx, http.MethodPost, nodePath(name)+"/rotate-token", nil, onEvent, &st)
	return st, err
}
