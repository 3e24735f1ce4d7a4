package hiveregistry

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"golang.org/x/crypto/ssh"
)

func TestAddGetRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		tests := []struct {
			name string
			node api.Node
		}{
			{name: "every field set", node: sampleNode(t, "gpu-1")},
			{name: "optional fields empty", node: api.Node{
				NodeName: "cpu.box", SSHHost: "cpu-box", SSHPort: 22, GitRepoURL: "file:///srv/git/rbee.git",
				GitBranch: "main", InstallPath: "/opt/rbee", AgentPort: 7835, Status: api.StatusReachable, Transport: api.TransportSSH,
				CreatedUnix: 1_759_000_000, UpdatedUnix: 1_759_000_000,
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r, _ := open(t)
				if err := r.Add(t.Context(), tt.node); err != nil {
					t.Fatalf("Add: %v", err)
				}
				got, err := r.Get(t.Context(), tt.node.NodeName)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if got != tt.node {
					t.Errorf("Get:\n got %+v\nwant %+v", got, tt.node)
				}
			})
		}
	})
}

func TestAddStampsTimesAndDerivesFingerprint(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		r.now = fixedClock(1_770_000_000)
		n := sampleNode(t, "gpu-1")
		n.CreatedUnix, n.UpdatedUnix = 0, 0
		n.HostKeyFingerprint = "SHA256:not-what-the-key-says"
		if err := r.Add(t.Context(), n); err != nil {
			t.Fatalf("Add: %v", err)
		}
		got, err := r.Get(t.Context(), "gpu-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.CreatedUnix != 1_770_000_000 || got.UpdatedUnix != 1_770_000_000 {
			t.Errorf("times = %d/%d, want both 1770000000", got.CreatedUnix, got.UpdatedUnix)
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(n.HostKey))
		if err != nil {
			t.Fatalf("parse host key: %v", err)
		}
		if want := ssh.FingerprintSHA256(pub); got.HostKeyFingerprint != want {
			t.Errorf("HostKeyFingerprint = %q, want %q (x/crypto/ssh)", got.HostKeyFingerprint, want)
		}
	})
}

func TestAddDuplicateKeepsOriginal(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		orig := sampleNode(t, "gpu-1")
		if err := r.Add(t.Context(), orig); err != nil {
			t.Fatalf("Add: %v", err)
		}
		dup := sampleNode(t, "gpu-1")
		dup.SSHHost, dup.Status, dup.InstallPath = "10.9.9.9", api.StatusReachable, "/elsewhere"
		err := r.Add(t.Context(), dup)
		if !errors.Is(err, ErrExists) {
			t.Fatalf("second Add = %v, want ErrExists", err)
		}
		got, err := r.Get(t.Context(), "gpu-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got != orig {
			t.Errorf("row changed by the rejected Add:\n got %+v\nwant %+v", got, orig)
		}
	})
}

func TestAddRejectsInvalidNode(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		tests := []struct {
			name      string
			edit      string // JSON merged over sampleNode
			wantField string
		}{
			{name: "unknown status", edit: `{"status":"unknown"}`, wantField: "status"},
			{name: "no status", edit: `{"status":""}`, wantField: "status"},
			{name: "bad name", edit: `{"node_name":"GPU 1"}`, wantField: "node_name"},
			{name: "hostile host", edit: `{"ssh_host":"-oProxyCommand=id"}`, wantField: "ssh_host"},
			{name: "port zero", edit: `{"ssh_port":0}`, wantField: "ssh_port"},
			{name: "garbage host key", edit: `{"host_key":"ssh-ed25519 $(id)"}`, wantField: "host_key"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r, _ := open(t)
				n := sampleNode(t, "gpu-1")
				if err := json.Unmarshal([]byte(tt.edit), &n); err != nil {
					t.Fatalf("decode edit: %v", err)
				}
				err := r.Add(t.Context(), n)
				assertInvalid(t, err, tt.wantField)
				if nodes, _ := r.List(t.Context()); len(nodes) != 0 {
					t.Errorf("invalid node was stored: %+v", nodes)
				}
			})
		}
	})
}

func TestListOrderedByName(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		nodes, err := r.List(t.Context())
		if err != nil || nodes == nil || len(nodes) != 0 {
			t.Fatalf("List on an empty registry = %v, %v; want an empty slice", nodes, err)
		}
		for _, name := range []string{"gpu-2", "alpha", "gpu-10", "box.lab"} {
			if err := r.Add(t.Context(), sampleNode(t, name)); err != nil {
				t.Fatalf("Add %s: %v", name, err)
			}
		}
		nodes, err = r.List(t.Context())
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		var got []string
		for _, n := range nodes {
			got = append(got, n.NodeName)
		}
		if want := []string{"alpha", "box.lab", "gpu-10", "gpu-2"}; !slices.Equal(got, want) {
			t.Errorf("List names = %v, want %v", got, want)
		}
	})
}

func TestRemove(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
			t.Fatalf("Add: %v", err)
		}
		if err := r.Remove(t.Context(), "gpu-1"); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		if _, err := r.Get(t.Context(), "gpu-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Remove = %v, want ErrNotFound", err)
		}
		if err := r.Remove(t.Context(), "gpu-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Remove = %v, want ErrNotFound", err)
		}
		if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
			t.Errorf("Add after Remove: %v", err)
		}
	})
}

func TestUnknownNameIsNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		ctx := t.Context()
		const name = "nope'; DROP TABLE hives; --"
		t.Run("Get", func(t *testing.T) {
			_, err := r.Get(ctx, name)
			assertNotFound(t, err)
		})
		t.Run("Update", func(t *testing.T) {
			_, err := r.Update(ctx, name, func(*api.Node) error {
				t.Error("fn called for an unknown node")
				return nil
			})
			assertNotFound(t, err)
		})
		t.Run("Remove", func(t *testing.T) { assertNotFound(t, r.Remove(ctx, name)) })
		t.Run("SetStatus", func(t *testing.T) { assertNotFound(t, r.SetStatus(ctx, name, api.StatusOnline, nil)) })
		t.Run("SetHiveTokenHash", func(t *testing.T) { assertNotFound(t, r.SetHiveTokenHash(ctx, name, "h")) })
		t.Run("HiveTokenHash", func(t *testing.T) {
			_, err := r.HiveTokenHash(ctx, name)
			assertNotFound(t, err)
		})
		if got, err := r.IntegrityCheck(ctx); err != nil || got != "ok" {
			t.Errorf("IntegrityCheck = %q, %v", got, err)
		}
	})
}

func TestUpdate(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		orig := sampleNode(t, "gpu-1")
		if err := r.Add(t.Context(), orig); err != nil {
			t.Fatalf("Add: %v", err)
		}
		r.now = fixedClock(1_780_000_000)
		got, err := r.Update(t.Context(), "gpu-1", func(n *api.Node) error {
			n.SSHPort, n.GitBranch, n.LastConnectedUnix = 22, "dev", 0
			n.HostKey, n.HostKeyFingerprint = "", ""
			n.CreatedUnix = 1 // ignored
			return nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		want := orig
		want.SSHPort, want.GitBranch, want.LastConnectedUnix = 22, "dev", 0
		want.HostKey, want.HostKeyFingerprint = "", ""
		want.UpdatedUnix = 1_780_000_000
		if got != want {
			t.Errorf("Update returned:\n got %+v\nwant %+v", got, want)
		}
		if stored, _ := r.Get(t.Context(), "gpu-1"); stored != want {
			t.Errorf("stored:\n got %+v\nwant %+v", stored, want)
		}
	})
}

func TestUpdateWritesNothingOnError(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		errStop := errors.New("ssh re-validation failed")
		tests := []struct {
			name      string
			fnErr     error  // returned by fn
			edit      string // JSON merged over the node by fn
			wantErr   error
			wantField string
		}{
			{name: "fn fails", fnErr: errStop, edit: `{"ssh_host":"10.1.1.1"}`, wantErr: errStop},
			{name: "result invalid", edit: `{"ssh_host":"10.1.1.1","agent_port":0}`, wantErr: api.ErrInvalid, wantField: "agent_port"},
			{name: "rename", edit: `{"node_name":"gpu-2"}`, wantErr: api.ErrInvalid, wantField: "node_name"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r, _ := open(t)
				orig := sampleNode(t, "gpu-1")
				if err := r.Add(t.Context(), orig); err != nil {
					t.Fatalf("Add: %v", err)
				}
				_, err := r.Update(t.Context(), "gpu-1", func(n *api.Node) error {
					if err := json.Unmarshal([]byte(tt.edit), n); err != nil {
						t.Fatalf("decode edit: %v", err)
					}
					return tt.fnErr
				})
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Update = %v, want %v", err, tt.wantErr)
				}
				if tt.wantField != "" {
					assertInvalid(t, err, tt.wantField)
				}
				nodes, _ := r.List(t.Context())
				if len(nodes) != 1 || nodes[0] != orig {
					t.Errorf("rows after failed Update = %+v, want only the original", nodes)
				}
			})
		}
	})
}

func TestSetStatus(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		n := sampleNode(t, "gpu-1")
		if err := r.Add(t.Context(), n); err != nil {
			t.Fatalf("Add: %v", err)
		}
		r.now = fixedClock(1_790_000_000)
		if err := r.SetStatus(t.Context(), "gpu-1", api.StatusOffline, nil); err != nil {
			t.Fatalf("SetStatus without time: %v", err)
		}
		assertStatus(t, r, "gpu-1", api.StatusOffline, n.LastConnectedUnix, 1_790_000_000)
		seen := time.Unix(1_790_000_050, 999)
		if err := r.SetStatus(t.Context(), "gpu-1", api.StatusReachable, &seen); err != nil {
			t.Fatalf("SetStatus with time: %v", err)
		}
		assertStatus(t, r, "gpu-1", api.StatusReachable, 1_790_000_050, 1_790_000_000)
		assertInvalid(t, r.SetStatus(t.Context(), "gpu-1", "unknown", nil), "status")
		assertStatus(t, r, "gpu-1", api.StatusReachable, 1_790_000_050, 1_790_000_000)
	})
}

func TestHiveTokenHashStaysOutOfNode(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
			t.Fatalf("Add: %v", err)
		}
		if h, err := r.HiveTokenHash(t.Context(), "gpu-1"); err != nil || h != "" {
			t.Fatalf("HiveTokenHash of a new node = %q, %v; want empty", h, err)
		}
		const hash = "sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
		if err := r.SetHiveTokenHash(t.Context(), "gpu-1", hash); err != nil {
			t.Fatalf("SetHiveTokenHash: %v", err)
		}
		if h, err := r.HiveTokenHash(t.Context(), "gpu-1"); err != nil || h != hash {
			t.Fatalf("HiveTokenHash = %q, %v; want %q", h, err, hash)
		}
		n, err := r.Get(t.Context(), "gpu-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		raw, _ := json.Marshal(n)
		if strings.Contains(string(raw), "5e884898") {
			t.Errorf("node JSON leaks the token hash: %s", raw)
		}
		if err := r.SetHiveTokenHash(t.Context(), "gpu-1", ""); err != nil {
			t.Fatalf("clear hash: %v", err)
		}
		if h, err := r.HiveTokenHash(t.Context(), "gpu-1"); err != nil || h != "" {
			t.Errorf("HiveTokenHash after clear = %q, %v", h, err)
		}
	})
}

// assertStatus checks status, last-connected and updated times of a row.
func assertStatus(t *testing.T, r *Registry, name, status string, lastConnected, updated int64) {
	t.Helper()
	n, err := r.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if n.Status != status || n.LastConnectedUnix != lastConnected || n.UpdatedUnix != updated {
		t.Errorf("status, last connected, updated = %s, %d, %d; want %s, %d, %d",
			n.Status, n.LastConnectedUnix, n.UpdatedUnix, status, lastConnected, updated)
	}
}

// assertInvalid checks that err is a validation error naming field.
func assertInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("error = %v, want api.ErrInvalid", err)
	}
	if fe, ok := api.AsFieldError(err); !ok || fe.Field != field {
		t.Errorf("error = %v, want a FieldError for %q", err, field)
	}
}

// assertNotFound checks that err wraps ErrNotFound.
func assertNotFound(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error = %v, want ErrNotFound", err)
	}
}

// fixedClock returns a clock stuck at unix seconds.
func fixedClock(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}
