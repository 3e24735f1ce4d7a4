package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/hive-agent/supervisor"
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

// TestQueenRoutesNeedTheQueenToken checks every route but health and the
// ready callback against no token, a wrong one and the queen's, which gets
// the route's own answer.
func TestQueenRoutesNeedTheQueenToken(t *testing.T) {
	const queenToken = "queen-token-0123456789abcdef0123"
	sum := sha256.Sum256([]byte(queenToken))
	sup := supervisor.New(supervisor.Config{Node: "gpu-1", StateFile: filepath.Join(t.TempDir(), "workers.json")})
	srv := httptest.NewServer(Handler(Config{
		Workers: sup, QueenTokenSHA256: hex.EncodeToString(sum[:]),
		Devices: func(context.Context) api.Devices { return api.Devices{Capabilities: []string{"cpu"}} },
	}))
	defer srv.Close()
	// authorized is each route's answer to the queen's token: the route ran
	// (a stop of an unknown worker is 404, a spawn of "{}" lacks its model).
	routes := []struct {
		method, path string
		authorized   int
	}{
		{"GET", "/metrics", http.StatusOK}, {"GET", "/v1/devices", http.StatusOK}, {"GET", "/v1/workers/list", http.StatusOK},
		{"POST", "/v1/workers/w-1/stop", http.StatusNotFound}, {"POST", "/v1/workers/spawn", http.StatusBadRequest},
	}
	for _, rt := range routes {
		for _, tc := range []struct {
			name, auth string
			want       int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"wrong token", "Bearer not-the-queen", http.StatusUnauthorized},
			{"hash as token", "Bearer " + hex.EncodeToString(sum[:]), http.StatusUnauthorized},
			{"queen token", "Bearer " + queenToken, rt.authorized},
		} {
			t.Run(rt.method+" "+rt.path+" "+tc.name, func(t *testing.T) {
				req, _ := http.NewRequestWithContext(t.Context(), rt.method, srv.URL+rt.path, strings.NewReader("{}"))
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
				}
			})
		}
	}
}
