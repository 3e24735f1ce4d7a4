package hiveregistry

import (
	"errors"
	"testing"
)

// TestRemoveRecordingToken checks the tombstone of a removed node's hive
// token: recorded with the removal, found by hash from a second opening of
// the file, absent for a node without a token, and cleared by name.
func TestRemoveRecordingToken(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, path := open(t)
		ctx := t.Context()
		for _, name := range []string{"gpu-1", "gpu-2"} {
			if err := r.Add(ctx, sampleNode(t, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.SetTokens(ctx, "gpu-1", "hash-of-gpu-1", "agent-token"); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"gpu-1", "gpu-2"} {
			if err := r.RemoveRecordingToken(ctx, name); err != nil {
				t.Fatalf("RemoveRecordingToken(%s): %v", name, err)
			}
			if _, err := r.Get(ctx, name); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%s) after remove: %v, want ErrNotFound", name, err)
			}
		}
		if err := r.RemoveRecordingToken(ctx, "gpu-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second remove: %v, want ErrNotFound", err)
		}
		r2, err := OpenStore(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Close()
		if name, err := r2.RemovedNode(ctx, "hash-of-gpu-1"); err != nil || name != "gpu-1" {
			t.Errorf("RemovedNode = %q, %v; want gpu-1", name, err)
		}
		for _, hash := range []string{"", "unknown"} {
			if _, err := r2.RemovedNode(ctx, hash); !errors.Is(err, ErrNoToken) {
				t.Errorf("RemovedNode(%q) = %v, want ErrNoToken", hash, err)
			}
		}
		if err := r2.ClearRemoved(ctx, "gpu-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := r2.RemovedNode(ctx, "hash-of-gpu-1"); !errors.Is(err, ErrNoToken) {
			t.Errorf("after ClearRemoved: %v, want ErrNoToken", err)
		}
		if err := r2.ClearRemoved(ctx, "never-there"); err != nil {
			t.Errorf("ClearRemoved of nothing: %v", err)
		}
	})
}
