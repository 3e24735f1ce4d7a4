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
	// Role is the queen's part in an HA pair on PostgreSQL: RoleActive or
	// RoleStandby; a queen on SQLite is always active. Empty on the agent.
	Role string `json:"role,omitempty"`
	// Epoch is the lease epoch: the active queen's own, or the last one a
	// standby saw. 0 on SQLite.
	Epoch int64 `json:"epoch,omitempty"`
	// ActiveURL is the URL of the active queen as far as this queen knows.
	ActiveURL string `json:"active_url,omitempty"`
	// LeaseAgeMS is the time since the active queen last renewed its
	// lease, in milliseconds.
	LeaseAgeMS int64 `json:"lease_age_ms,omitempty"`
}

// Roles of a queen in [Health.Role].
const (
	RoleActive  = "active"
	RoleStandby = "standby"
)

// HeaderActiveQueen names, on a standby queen's 503 STANDBY answers, the
// URL of the active queen to send the request to.
const HeaderActiveQueen = "X-Rbee-Active-Queen"
