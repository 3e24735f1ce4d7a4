package hiveregistry

import (
	"errors"
	"slices"
	"testing"
)

// TestClientKeyLifeCycle adds, finds, lists, revokes and re-adds keys on a
// real registry file.
func TestClientKeyLifeCycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		ctx := t.Context()
		if _, err := r.AddClientKey(ctx, "ci", "hash-ci"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AddClientKey(ctx, "app", "hash-app"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AddClientKey(ctx, "ci", "hash-other"); !errors.Is(err, ErrKeyExists) {
			t.Errorf("second key named ci: %v, want ErrKeyExists", err)
		}
		if name, err := r.ClientKeyByHash(ctx, "hash-ci"); err != nil || name != "ci" {
			t.Errorf("ClientKeyByHash(hash-ci) = %q, %v", name, err)
		}
		if _, err := r.ClientKeyByHash(ctx, "hash-other"); !errors.Is(err, ErrNoKey) {
			t.Errorf("the refused key's hash was stored: %v", err)
		}
		if err := r.RevokeClientKey(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		if err := r.RevokeClientKey(ctx, "ci"); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("second revoke: %v, want ErrKeyNotFound", err)
		}
		if _, err := r.ClientKeyByHash(ctx, "hash-ci"); !errors.Is(err, ErrNoKey) {
			t.Errorf("revoked key still found: %v", err)
		}
		keys, err := r.ClientKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, k := range keys {
			names = append(names, k.Name)
			if (k.Name == "ci") != (k.RevokedUnix != 0) || k.Scope != "gateway" || k.CreatedUnix == 0 || k.Key != "" {
				t.Errorf("listed %+v", k)
			}
		}
		if !slices.Equal(names, []string{"app", "ci"}) {
			t.Errorf("listed %v, want app, ci", names)
		}
		if _, err := r.AddClientKey(ctx, "ci", "hash-ci-2"); err != nil {
			t.Errorf("re-adding a revoked name: %v", err)
		}
		if name, err := r.ClientKeyByHash(ctx, "hash-ci-2"); err != nil || name != "ci" {
			t.Errorf("re-added key: %q, %v", name, err)
		}
	})
}
