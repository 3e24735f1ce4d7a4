package server

import (
	"context"
	"net/http"

	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
)

// rotateTokens is POST /v1/hives/{name}/rotate-token: new hive and agent
// tokens on the node, reloaded by the running agent (SIGHUP, no restart);
// the old ones are refused from the moment the new ones are recorded.
func (s *Server) rotateTokens(w http.ResponseWriter, r *http.Request) {
	s.nodeOp(w, r, func(ctx context.Context, in *install.Installer, n api.Node, report install.Reporter) (string, error) {
		in.OnTokens = s.tokens.forget
		if err := in.RotateTokens(ctx, n, report); err != nil {
			return "", err
		}
		return "✅ new tokens in force on " + n.NodeName + "; the old ones are refused", nil
	})
}
