package api

// HealthAlive is the Status of a daemon that answers its health route.
const HealthAlive = "alive"

// Health is the body of GET /v1/health on the queen and on the hive agent.
// The route needs no token.
type Health struct {
	// Status is HealthAlive while the daemon serves requests.
	Status string `json:"status"`
	// Version is the build version of the binary (a short git commit or "dev").
	Version string `json:"version"`
	// APIVersion is the HTTP API the daemon speaks, e.g. "v1".
	APIVersion string `json:"api_version"`
}
