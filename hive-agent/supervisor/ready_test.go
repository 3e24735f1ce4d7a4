//go:build linux

package supervisor_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestReadyCallback posts ready callbacks to the agent's real route for a
// worker that never calls back itself.
func TestReadyCallback(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	type result struct {
		w   api.Worker
		err error
	}
	done := make(chan result, 1)
	go func() {
		w, err := f.sup.Spawn(t.Context(), api.SpawnWorkerRequest{ModelRef: "hf:test/tiny", Backend: "never-ready", ReadyTimeoutMS: 20000})
		done <- result{w, err}
	}()
	w := f.relay.awaitRegistered(t, 1)
	cb := api.ReadyCallback{ID: w.ID, URL: "http://10.9.9.9:1", ModelRef: "hf:test/tiny", Backend: "never-ready", SlotsTotal: 2, VRAMBytes: 123}

	var token string
	for _, kv := range procStrings(t, w.PID, "environ") {
		if v, ok := strings.CutPrefix(kv, api.WorkerTokenEnv+"="); ok {
			if token != "" {
				t.Errorf("worker has %s twice", api.WorkerTokenEnv)
			}
			token = v
		}
	}
	if len(token) < 32 {
		t.Fatalf("worker got token %q in %s, want a long random one", token, api.WorkerTokenEnv)
	}

	// The token is checked first: without the worker's own token every
	// callback is 401, whether the id exists or not, so ids cannot be
	// probed. With it, a body that does not match the spawn is 400 naming
	// the field.
	with := func(change func(*api.ReadyCallback)) api.ReadyCallback {
		c := cb
		change(&c)
		return c
	}
	refused := []struct {
		name   string
		token  string
		cb     api.ReadyCallback
		status int
		code   string
		field  string // named in the message
	}{
		{name: "wrong token", token: "not-" + token, cb: cb, status: http.StatusUnauthorized, code: api.CodeUnauthorized},
		{name: "no token", token: "", cb: cb, status: http.StatusUnauthorized, code: api.CodeUnauthorized},
		{name: "no token, unknown worker", token: "", cb: api.ReadyCallback{ID: "w-unknown"}, status: http.StatusUnauthorized, code: api.CodeUnauthorized},
		{name: "wrong token, unknown worker", token: "not-" + token, cb: api.ReadyCallback{ID: "w-unknown"}, status: http.StatusUnauthorized, code: api.CodeUnauthorized},
		{name: "its token, unknown worker", token: token, cb: api.ReadyCallback{ID: "w-unknown"}, status: http.StatusUnauthorized, code: api.CodeUnauthorized},
		{name: "no token, invalid id", token: "", cb: api.ReadyCallback{ID: "../x"}, status: http.StatusUnauthorized, code: api.CodeUnauthorized},
		{name: "other model", token: token, cb: with(func(c *api.ReadyCallback) { c.ModelRef = "hf:test/other" }),
			status: http.StatusBadRequest, code: api.CodeInvalidField, field: "model_ref"},
		{name: "other backend", token: token, cb: with(func(c *api.ReadyCallback) { c.Backend = "cuda" }),
			status: http.StatusBadRequest, code: api.CodeInvalidField, field: "backend"},
		{name: "other device", token: token, cb: with(func(c *api.ReadyCallback) { c.Device = 1 }),
			status: http.StatusBadRequest, code: api.CodeInvalidField, field: "device"},
		{name: "no url", token: token, cb: with(func(c *api.ReadyCallback) { c.URL = "" }),
			status: http.StatusBadRequest, code: api.CodeInvalidField, field: "url"},
		{name: "negative slots", token: token, cb: with(func(c *api.ReadyCallback) { c.SlotsTotal = -1 }),
			status: http.StatusBadRequest, code: api.CodeInvalidField, field: "slots_total"},
	}
	for _, tt := range refused {
		status, body := postReady(t, f.callback, tt.token, tt.cb)
		if status != tt.status || body.Error.Code != tt.code || !strings.Contains(body.Error.Message, tt.field) {
			t.Errorf("%s: %d %+v, want %d %s naming %q", tt.name, status, body.Error, tt.status, tt.code, tt.field)
		}
		if status == http.StatusUnauthorized && strings.Contains(body.Error.Message, tt.cb.ID) {
			t.Errorf("%s: 401 %q names the worker id", tt.name, body.Error.Message)
		}
		if ws := f.sup.List(); len(ws) != 1 || ws[0].State != api.WorkerLoading {
			t.Errorf("%s: List = %v, want the worker still loading", tt.name, ids(ws))
		}
	}
	if got := f.relay.of(w.ID); !slices.Equal(got, []string{"register(loading)"}) {
		t.Errorf("relay saw %q after refused callbacks, want the register only", got)
	}

	if status, body := postReady(t, f.callback, token, cb); status != http.StatusOK {
		t.Fatalf("callback with the worker's token: %d %+v", status, body.Error)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("spawn: %v", r.err)
	}
	// The agent reports the URL it gave the worker, not the one the worker claims.
	if r.w.State != api.WorkerIdle || r.w.SlotsTotal != 2 || r.w.SlotsAvailable != 2 || r.w.VRAMBytes != 123 || r.w.URL != w.URL {
		t.Errorf("spawned %+v, want idle with 2/2 slots, 123 bytes of VRAM at %s", r.w, w.URL)
	}
	// A second callback changes nothing.
	if status, _ := postReady(t, f.callback, token, with(func(c *api.ReadyCallback) { c.SlotsTotal = 7 })); status != http.StatusOK {
		t.Errorf("second callback: %d, want 200", status)
	}
	if got, want := f.relay.of(w.ID), []string{"register(loading)", "update(idle)"}; !slices.Equal(got, want) {
		t.Errorf("relay saw %q, want %q", got, want)
	}
	if ws := f.sup.List(); len(ws) != 1 || ws[0].SlotsTotal != 2 {
		t.Errorf("List = %+v after a second callback, want 2 slots still", ws)
	}
}

// postReady posts cb to the ready route with token as Bearer (none when
// empty).
func postReady(t *testing.T, url, token string, cb api.ReadyCallback) (int, api.ErrorBody) {
	t.Helper()
	data, err := json.Marshal(cb)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body api.ErrorBody
	if resp.StatusCode != http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("POST %s: %s with a body that is not JSON: %v", url, resp.Status, err)
		}
	}
	return resp.StatusCode, body
}
