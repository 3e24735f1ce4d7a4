package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// beatStatus sends an empty heartbeat of node with the hive token tok and
// returns the status of the answer.
func (q *routeQueen) beatStatus(t testing.TB, node, tok string, workers ...api.Worker) routeReply {
	t.Helper()
	return q.must(t, "POST", "/v1/hives/"+node+"/heartbeat", bearerAuth(tok), beatOf(workers))
}

// TestHiveTokenCacheLifetime: a verified hive token is trusted without
// reading the registry for at most a minute. The registry gets a new token
// behind the queen's back (no install, uninstall or remove told it): the old
// one is accepted until its minute is up, and refused right after.
func TestHiveTokenCacheLifetime(t *testing.T) {
	reg := openRouteRegistry(t)
	clock := newTestClock()
	q := startRouteQueen(t, reg, server.Config{Now: clock.Now})
	a := addHive(t, reg, "gpu-a", api.StatusOnline)
	if r := q.beatStatus(t, a.name, a.token); r.status != http.StatusOK {
		t.Fatalf("first beat: %s", r)
	}
	newToken, newHash := install.MintToken()
	if err := reg.SetTokens(t.Context(), a.name, newHash, a.agentToken); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		advance time.Duration
		token   string
		want    int
	}{
		{"old token right after the change, from the cache", 0, a.token, http.StatusOK},
		{"old token just before its minute is up", time.Minute - time.Millisecond, a.token, http.StatusOK},
		{"new token, read from the registry", 0, newToken, http.StatusOK},
		{"old token just after its minute", 2 * time.Millisecond, a.token, http.StatusUnauthorized},
		{"new token still", time.Minute, newToken, http.StatusOK},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		if r := q.beatStatus(t, a.name, s.token); r.status != s.want {
			t.Errorf("%s: %s, want %d", s.name, r, s.want)
		}
	}
}

// TestRemovedNodeTokenRefusedAtOnce: the cached hive token of a node is
// dropped when the node is removed. Its agent's next beat is 410 at once
// and re-creates none of its workers; after the node is added again, the
// old token is 401.
func TestRemovedNodeTokenRefusedAtOnce(t *testing.T) {
	reg := openRouteRegistry(t)
	clock := newTestClock() // does not move: any refusal below is not an expiry
	q := startRouteQueen(t, reg, server.Config{Now: clock.Now})
	a := addHive(t, reg, "gpu-a", api.StatusOnline)
	w := routeWorker("a-1", api.BackendCPU, 0, modelTiny, api.WorkerIdle)
	q.heartbeat(t, a, w) // the token is cached now
	if r := q.must(t, "DELETE", "/v1/hives/gpu-a?force=true", bearerAuth(token), nil); r.status != http.StatusOK {
		t.Fatalf("remove-node --force: %s", r)
	}
	wantError(t, q.beatStatus(t, a.name, a.token, w), http.StatusGone, api.CodeNodeRemoved)
	if got := q.list(t, ""); len(got) != 0 {
		t.Errorf("a beat of the removed node's agent re-created workers: %v", workerKeys(got))
	}
	again := addHive(t, reg, "gpu-a", api.StatusInstalled)
	if err := reg.ClearRemoved(t.Context(), "gpu-a"); err != nil { // as add-node does
		t.Fatal(err)
	}
	wantError(t, q.beatStatus(t, a.name, a.token), http.StatusUnauthorized, api.CodeUnauthorized)
	if r := q.beatStatus(t, again.name, again.token); r.status != http.StatusOK {
		t.Errorf("the new token after the node was added again: %s", r)
	}
}
