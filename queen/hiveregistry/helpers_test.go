package hiveregistry

import (
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
	"golang.org/x/crypto/ssh"
)

// openTemp opens a registry on a fresh file in t.TempDir and closes it when
// the test ends.
func openTemp(t testing.TB) (*Registry, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rbee", "beehives.db")
	r, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r, path
}

// sampleNode returns a complete, valid node called name with every field
// set to something other than its zero value.
func sampleNode(t testing.TB, name string) api.Node {
	t.Helper()
	key := hostKey(t, name)
	return api.Node{
		NodeName: name, SSHHost: "10.0.0.7", SSHPort: 2222, SSHUser: "vince",
		SSHKeyPath: "/home/vince/My Keys/id_ed25519", GitRepoURL: "git@github.com:rbee-fleet/rbee.git",
		GitBranch: "feature/ssh-retry", InstallPath: "~/rbee fleet", AgentPort: 9000, Transport: api.TransportSSH,
		Status: api.StatusOnline, HostKey: key, HostKeyFingerprint: fingerprint(key),
		LastConnectedUnix: 1_760_000_100, InstalledCommit: "9e2061e0c1d2a3b4",
		AgentURL: "http://10.0.0.7:9000", AgentVersion: "9e2061e0c1d2",
		CreatedUnix: 1_759_000_000, UpdatedUnix: 1_760_000_200,
	}
}

// hostKey returns a deterministic ed25519 host key, in authorized_keys
// format, derived from seed.
func hostKey(t testing.TB, seed string) string {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	copy(s, seed)
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s).Public())
	if err != nil {
		t.Fatalf("make host key: %v", err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}
