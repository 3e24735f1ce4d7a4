// Package server is the hive agent's HTTP API (DESIGN §3). For now it
// answers GET /v1/health; every other route is a JSON 404.
package server

import (
	"encoding/json"
	"net/http"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/version"
)

// maxShownPath bounds how much of an unknown path a 404 echoes.
const maxShownPath = 128

// Handler returns the agent's routes.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", health)
	mux.HandleFunc("/", notFound)
	return mux
}

// health answers without a token while the agent serves requests.
func health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Health{
		Status:     api.HealthAlive,
		Version:    version.String(),
		APIVersion: version.APIVersion,
	})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > maxShownPath {
		path = path[:maxShownPath] + "…"
	}
	writeJSON(w, http.StatusNotFound, api.ErrorBody{Error: api.ErrorDetail{
		Code:    api.CodeNotFound,
		Message: "no route " + r.Method + " " + path + " on the hive agent",
		Hint:    "the agent serves GET /v1/health; see DESIGN §3",
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
