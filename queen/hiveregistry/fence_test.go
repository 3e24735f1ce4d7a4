package hiveregistry

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rbee-fleet/rbee/shared/api"
)

// errFenced stands for the lease's "epoch moved on" error.
var errFenced = errors.New("fenced: another queen holds the lease now")

// TestFenceGuardsEveryWrite opens a PostgreSQL registry whose Fence lets
// the first setupWrites writes through and refuses every later one. Each
// kind of write then fails with an error wrapping the fence's, calls the
// fence exactly once and before anything else (a duplicate add reports the
// fence, not ErrExists; Update never calls fn), and leaves every row as it
// was; reads are not fenced.
func TestFenceGuardsEveryWrite(t *testing.T) {
	const setupWrites = 6
	var calls atomic.Int32
	fence := func(ctx context.Context, tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil { // it gets the write's own transaction
			return err
		}
		if calls.Add(1) > setupWrites {
			return errFenced
		}
		return nil
	}
	r, _ := openPostgresWith(t, Options{Fence: fence})
	ctx := t.Context()
	setup := []func() error{
		func() error { return r.Add(ctx, sampleNode(t, "gpu-1")) },
		func() error { return r.Add(ctx, sampleNode(t, "gpu-2")) },
		func() error { return r.SetTokens(ctx, "gpu-1", "hash-1", "agent-1") },
		func() error { return r.SetTokens(ctx, "gpu-2", "hash-of-gpu-2", "agent-2") },
		func() error { _, err := r.AddClientKey(ctx, "ci", "hash-ci"); return err },
		func() error { return r.RemoveRecordingToken(ctx, "gpu-2") },
	}
	for i, op := range setup {
		if err := op(); err != nil {
			t.Fatalf("setup write %d: %v", i, err)
		}
	}
	if got := calls.Load(); got != setupWrites {
		t.Fatalf("fence called %d times for %d writes", got, setupWrites)
	}
	before := snapshot(t, r)
	if before.RemovedNode != "gpu-2" || before.HiveToken != "hash-1" || len(before.Nodes) != 1 || len(before.Keys) != 1 {
		t.Fatalf("setup state %+v", before)
	}
	now := time.Unix(1_800_000_000, 0)
	writes := []struct {
		name string
		op   func() error
	}{
		{"add", func() error { return r.Add(ctx, sampleNode(t, "gpu-3")) }},
		{"add of a taken name", func() error { return r.Add(ctx, sampleNode(t, "gpu-1")) }},
		{"update", func() error {
			_, err := r.Update(ctx, "gpu-1", func(*api.Node) error { t.Error("Update called fn past the fence"); return nil })
			return err
		}},
		{"set status", func() error { return r.SetStatus(ctx, "gpu-1", api.StatusOffline, &now) }},
		{"set status from", func() error {
			_, err := r.SetStatusFrom(ctx, "gpu-1", api.StatusOnline, api.StatusOffline, nil)
			return err
		}},
		{"set tokens", func() error { return r.SetTokens(ctx, "gpu-1", "hash-9", "agent-9") }},
		{"set hive token hash", func() error { return r.SetHiveTokenHash(ctx, "gpu-1", "") }},
		{"record install", func() error { return r.RecordInstall(ctx, "gpu-1", failedBuild) }},
		{"remove", func() error { return r.Remove(ctx, "gpu-1") }},
		{"remove recording token", func() error { return r.RemoveRecordingToken(ctx, "gpu-1") }},
		{"clear removed", func() error { return r.ClearRemoved(ctx, "gpu-2") }},
		{"add client key", func() error { _, err := r.AddClientKey(ctx, "app", "hash-app"); return err }},
		{"revoke client key", func() error { return r.RevokeClientKey(ctx, "ci") }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			was := calls.Load()
			err := w.op()
			if !errors.Is(err, errFenced) {
				t.Errorf("error %v, want one wrapping the fence's", err)
			}
			if got := calls.Load() - was; got != 1 {
				t.Errorf("fence called %d times, want once", got)
			}
		})
	}
	was := calls.Load()
	if after := snapshot(t, r); !reflect.DeepEqual(after, before) {
		t.Errorf("rows changed past the fence:\nbefore %+v\nafter  %+v", before, after)
	}
	if calls.Load() != was {
		t.Error("a read called the fence")
	}
}

// registryState is everything a write can change, read back.
type registryState struct {
	Nodes       []api.Node
	Keys        []api.ClientKey
	HiveToken   string
	AgentToken  string
	RemovedNode string
}

// snapshot reads the state of gpu-1 and of the removed gpu-2; a read that
// fails is part of the state.
func snapshot(t *testing.T, r *Registry) registryState {
	t.Helper()
	ctx := t.Context()
	var s registryState
	var err error
	if s.Nodes, err = r.List(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Keys, err = r.ClientKeys(ctx); err != nil {
		t.Fatal(err)
	}
	s.HiveToken, _ = r.HiveTokenHash(ctx, "gpu-1")
	s.AgentToken, _ = r.AgentToken(ctx, "gpu-1")
	s.RemovedNode, _ = r.RemovedNode(ctx, "hash-of-gpu-2")
	return s
}
