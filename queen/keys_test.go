package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestKeysCreatePrintsOnlyTheKey: stdout holds the key alone, so
// `key=$(queen keys create --name N)` works; the note goes to stderr.
func TestKeysCreatePrintsOnlyTheKey(t *testing.T) {
	q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/keys" {
			t.Errorf("request %s %s, want POST /v1/keys", r.Method, r.URL.Path)
		}
		answerJSON(w, http.StatusCreated, api.ClientKey{Name: "demo", Key: "rbk_SECRET", Scope: "gateway"})
	})
	res := runQueen(t, q.args("keys", "create", "--name", "demo")...)
	if res.err != nil {
		t.Fatalf("keys create: %v", res.err)
	}
	if res.stdout != "rbk_SECRET\n" || !strings.Contains(res.stderr, `created client key "demo"`) {
		t.Errorf("stdout %q, stderr %q: want the key alone on stdout and the note on stderr", res.stdout, res.stderr)
	}
}
