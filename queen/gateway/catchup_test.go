package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// keysOf accepts one client key.
type keysOf string

func (k keysOf) ClientOf(_ context.Context, key string) (string, bool, error) {
	return "test", key == string(k), nil
}
func (k keysOf) IsAdminToken(string) bool { return false }

// TestRoutesAWorkerTheTableHasNotSeenYet: a worker in the registry that
// the routing table has not been rebuilt with (Run not started, as in the
// moment after a queen restart) is served, not answered 404.
func TestRoutesAWorkerTheTableHasNotSeenYet(t *testing.T) {
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"choices":[{"text":"hi"}]}`)
	}))
	defer worker.Close()
	reg := workerregistry.New()
	_, err := reg.Register("gpu-1", api.Worker{ID: "w-1", Node: "gpu-1", URL: worker.URL, ModelRef: "hf:x/y",
		Backend: api.BackendCPU, State: api.WorkerIdle, SlotsTotal: 1, SlotsAvailable: 1, PID: 7}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g := New(Config{Workers: reg, Keys: keysOf("k")})
	req := httptest.NewRequest("POST", "/v1/completions", strings.NewReader(`{"model":"hf:x/y","prompt":"a"}`))
	req.Header.Set("Authorization", "Bearer k")
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("X-Rbee-Worker") != "w-1" {
		t.Errorf("status %d, worker %q: %s; want 200 from w-1", rec.Code, rec.Header().Get("X-Rbee-Worker"), rec.Body)
	}
}
