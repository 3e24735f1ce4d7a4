package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/shared/api"
)

// tokenTTL bounds how long a verified hive token is trusted without
// reading the registry again; install, uninstall and remove-node forget a
// node's tokens at once.
const tokenTTL = time.Minute

// hiveTokens caches hive token hash → node, so a heartbeat costs no
// registry read.
type hiveTokens struct {
	mu     sync.RWMutex
	byHash map[string]cachedToken
}

type cachedToken struct {
	node string
	at   time.Time
}

func newHiveTokens() *hiveTokens { return &hiveTokens{byHash: map[string]cachedToken{}} }

func (c *hiveTokens) get(hash string, now time.Time) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.byHash[hash]
	if !ok || now.Sub(e.at) > tokenTTL {
		return "", false
	}
	return e.node, true
}

func (c *hiveTokens) put(hash, node string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byHash[hash] = cachedToken{node: node, at: now}
}

// forget drops every cached token of node.
func (c *hiveTokens) forget(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.byHash {
		if e.node == node {
			delete(c.byHash, h)
		}
	}
}

// authHive checks the hive token of an agent request and returns its node.
// A missing or unknown token gets 401; the token of a removed node gets 410
// NODE_REMOVED; the token of another node than want ("" accepts any) gets
// 403. On failure the answer is written.
func (s *Server) authHive(w http.ResponseWriter, r *http.Request, want string) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	node := ""
	if ok && token != "" {
		found, removed, err := s.hiveOfToken(r.Context(), install.HashToken(token))
		if err != nil {
			s.internal(w, "check hive token", err)
			return "", false
		}
		if removed {
			writeNodeRemoved(w, found)
			return "", false
		}
		node = found
	}
	hint := "re-run `queen setup install --node NODE` to give the agent a new token"
	if want != "" {
		hint = strings.Replace(hint, "NODE", want, 1)
	}
	if node == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, api.ErrorDetail{Code: api.CodeUnauthorized,
			Message: "missing or unknown hive token", Hint: hint})
		return "", false
	}
	if want != "" && node != want {
		writeError(w, http.StatusForbidden, api.ErrorDetail{Code: api.CodeForbidden,
			Message: "this hive token belongs to node " + node + ", not " + want,
			Hint:    "an agent may only act for its own node; check node_name in its hive-agent.json"})
		return "", false
	}
	return node, true
}

// hiveOfToken returns the node whose hive token has hash ("" for none),
// or the removed node whose token it was, with removed set.
func (s *Server) hiveOfToken(ctx context.Context, hash string) (node string, removed bool, err error) {
	now := s.cfg.Now()
	if node, cached := s.tokens.get(hash, now); cached {
		return node, false, nil
	}
	node, err = s.cfg.Registry.NodeByTokenHash(ctx, hash)
	if err == nil {
		s.tokens.put(hash, node, now)
		return node, false, nil
	}
	if !errors.Is(err, hiveregistry.ErrNoToken) {
		return "", false, err
	}
	node, err = s.cfg.Registry.RemovedNode(ctx, hash)
	switch {
	case err == nil:
		return node, true, nil
	case errors.Is(err, hiveregistry.ErrNoToken):
		return "", false, nil
	}
	return "", false, err
}

// writeNodeRemoved answers an agent of the removed node name with 410.
func writeNodeRemoved(w http.ResponseWriter, name string) {
	writeError(w, http.StatusGone, api.ErrorDetail{Code: api.CodeNodeRemoved,
		Message: fmt.Sprintf("node %s was removed from this queen; this agent is no longer managed and should stop", name),
		Hint: fmt.Sprintf("stop the agent on the node (its pid is in <install path>/run/hive-agent.pid), or add the node again "+
			"with `queen setup add-node --name %s …` and run `queen setup install --node %s`", name, name)})
}
