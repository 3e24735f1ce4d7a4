package hiveregistry

import (
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestSchemaChecksStatus writes statuses with raw SQL, past the Go
// validation, to test the CHECK constraint itself.
func TestSchemaChecksStatus(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
			t.Fatalf("Add: %v", err)
		}
		tests := []struct {
			name   string
			status string
		}{
			{name: "unknown", status: "unknown"},
			{name: "empty", status: ""},
			{name: "wrong case", status: "Online"},
			{name: "trailing space", status: "online "},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := setRawStatus(t, r, tt.status)
				if !isCheckViolation(err) {
					t.Fatalf("status %q: error %v, want a CHECK violation", tt.status, err)
				}
			})
		}
	})
}

func TestSchemaAcceptsEveryAPIStatus(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
			t.Fatalf("Add: %v", err)
		}
		for _, status := range api.Statuses() {
			if err := setRawStatus(t, r, status); err != nil {
				t.Errorf("status %q rejected by the schema: %v", status, err)
			}
		}
	})
}

func TestSchemaRejectsBadRows(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		tests := []struct {
			name string
			sql  string
		}{
			{name: "port out of range", sql: `INSERT INTO hives (node_name, ssh_host, ssh_port, git_repo_url, install_path, status, created_unix, updated_unix)
			VALUES ('a', 'h', 70000, 'https://h/r', '/r', 'online', 1, 1);`},
			{name: "text in an integer column", sql: `INSERT INTO hives (node_name, ssh_host, ssh_port, git_repo_url, install_path, status, created_unix, updated_unix)
			VALUES ('a', 'h', 'twenty-two', 'https://h/r', '/r', 'online', 1, 1);`},
			{name: "null name", sql: `INSERT INTO hives (node_name, ssh_host, git_repo_url, install_path, status, created_unix, updated_unix)
			VALUES (NULL, 'h', 'https://h/r', '/r', 'online', 1, 1);`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := rawExec(t, r, tt.sql, nil); err == nil {
					t.Fatal("insert succeeded, want a constraint error")
				}
			})
		}
	})
}

// setRawStatus sets the status of gpu-1 with SQL, past the Go validation.
func setRawStatus(t *testing.T, r *Registry, status string) error {
	t.Helper()
	return rawExec(t, r, "UPDATE hives SET status = :status WHERE node_name = 'gpu-1'", map[string]any{":status": status})
}
