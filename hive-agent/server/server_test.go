package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/version"
)

func TestHealth(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/health: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	var got api.Health
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := api.Health{Status: "alive", Version: version.String(), APIVersion: "v1"}
	if got != want {
		t.Errorf("health = %+v, want %+v", got, want)
	}
}

func TestUnknownRoutes(t *testing.T) {
	tests := []struct {
		name, method, path string
	}{
		{name: "unknown path", method: http.MethodGet, path: "/v1/nope"},
		{name: "root", method: http.MethodGet, path: "/"},
		{name: "health by POST", method: http.MethodPost, path: "/v1/health"},
		{name: "spawn not yet served", method: http.MethodPost, path: "/v1/workers/spawn"},
	}
	srv := httptest.NewServer(Handler(Config{}))
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body api.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("404 body is not JSON: %v", err)
			}
			if resp.StatusCode != http.StatusNotFound || body.Error.Code != api.CodeNotFound || body.Error.Message == "" {
				t.Errorf("%s %s: %s %+v", tt.method, tt.path, resp.Status, body)
			}
		})
	}
}
