package server_test

import (
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"github.com/rbee-fleet/rbee/hive-agent/relay"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// TestRelayWorkerEvents runs the agent's relay (hive-agent/relay: Register,
// Update, Remove) against a real queen. An update of a worker the queen does
// not know (it restarted, or dropped the worker) registers the whole worker
// instead; removing a worker the queen does not know is done already; a
// refused token is an error that no fallback hides.
func TestRelayWorkerEvents(t *testing.T) {
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})
	a := addHive(t, reg, "gpu-a", api.StatusOnline)
	addHive(t, reg, "gpu-b", api.StatusOnline)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	newRelay := func(tok string) *relay.Relay {
		rl, err := relay.New(relay.Config{QueenURL: q.url, NodeName: a.name, Token: tok, Beat: beatOf(nil)}, log)
		if err != nil {
			t.Fatal(err)
		}
		return rl
	}
	rl := newRelay(a.token)
	w := routeWorker("a-1", api.BackendCPU, 0, modelTiny, api.WorkerLoading)
	w.Node = "gpu-b" // the relay names its own node, whatever the record says
	state := func() string {
		t.Helper()
		list := q.list(t, "")
		if len(list) != 1 || list[0].ID != "a-1" || list[0].Node != "gpu-a" {
			t.Fatalf("the queen lists %v, want gpu-a/a-1", workerKeys(list))
		}
		return list[0].State
	}

	if err := rl.Register(t.Context(), w); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if st := state(); st != api.WorkerLoading {
		t.Errorf("after Register: %s, want loading", st)
	}
	if err := rl.Register(t.Context(), w); err != nil {
		t.Errorf("Register again: %v, want it harmless", err)
	}
	w.State = api.WorkerIdle
	if err := rl.Update(t.Context(), api.UpdateWorkerRequest{ID: w.ID, State: api.WorkerIdle}, w); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if st := state(); st != api.WorkerIdle {
		t.Errorf("after Update: %s, want idle", st)
	}

	// The queen forgets the worker, as a restarted queen has: the next
	// update is answered 404 and the relay registers the worker instead.
	if r := q.must(t, "DELETE", "/v1/workers/a-1", bearerAuth(a.token), nil); r.status != http.StatusNoContent {
		t.Fatalf("drop the worker at the queen: %s", r)
	}
	w.State, w.SlotsAvailable = api.WorkerBusy, 0
	if err := rl.Update(t.Context(), api.UpdateWorkerRequest{ID: w.ID, State: api.WorkerBusy, SlotsAvailable: refOf(0)}, w); err != nil {
		t.Fatalf("Update of a worker the queen does not know: %v, want it registered", err)
	}
	if st := state(); st != api.WorkerBusy {
		t.Errorf("after the update that registered: %s, want busy", st)
	}

	refused := newRelay("hvt_not-the-token")
	for name, call := range map[string]func() error{
		"Register": func() error { return refused.Register(t.Context(), w) },
		"Update": func() error {
			return refused.Update(t.Context(), api.UpdateWorkerRequest{ID: w.ID, State: api.WorkerIdle}, w)
		},
		"Remove": func() error { return refused.Remove(t.Context(), w.ID) },
	} {
		if err := call(); !relay.IsTokenRejected(err) {
			t.Errorf("%s with a wrong token: %v, want the 401 as a token rejection", name, err)
		}
	}

	if err := rl.Remove(t.Context(), w.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if list := q.list(t, ""); len(list) != 0 {
		t.Errorf("after Remove the queen lists %v", workerKeys(list))
	}
	err := rl.Remove(t.Context(), w.ID)
	if err != nil {
		t.Errorf("Remove of a worker the queen does not know: %v, want nil", err)
	}
	if _, ok := errors.AsType[*relay.StatusError](err); ok {
		t.Errorf("Remove of an unknown worker returned a status error: %v", err)
	}
}
