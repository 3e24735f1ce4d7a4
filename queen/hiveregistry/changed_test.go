package hiveregistry

import (
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

// TestChangedAtEveryWrite: each write to a node closes the channel
// Changed handed out before it; reads do not.
func TestChangedAtEveryWrite(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		ctx := t.Context()
		if err := r.Add(ctx, sampleNode(t, "gpu-0")); err != nil {
			t.Fatal(err)
		}
		expect(t, r, "list", false, func() error { _, err := r.List(ctx); return err })
		expect(t, r, "get", false, func() error { _, err := r.Get(ctx, "gpu-0"); return err })
		expect(t, r, "add", true, func() error { return r.Add(ctx, sampleNode(t, "gpu-1")) })
		expect(t, r, "set status", true, func() error { return r.SetStatus(ctx, "gpu-1", api.StatusOffline, nil) })
		expect(t, r, "set status from", true, func() error {
			_, err := r.SetStatusFrom(ctx, "gpu-1", api.StatusOffline, api.StatusOnline, nil)
			return err
		})
		expect(t, r, "update", true, func() error {
			_, err := r.Update(ctx, "gpu-1", func(n *api.Node) error { n.AgentPort = 7900; return nil })
			return err
		})
		expect(t, r, "record install", true, func() error {
			return r.RecordInstall(ctx, "gpu-1", api.InstallRecord{Result: api.ResultUpToDate, FinishedUnix: 1})
		})
		expect(t, r, "set tokens", true, func() error { return r.SetTokens(ctx, "gpu-1", "h", "a") })
		expect(t, r, "remove", true, func() error { return r.Remove(ctx, "gpu-1") })
	})
}

// expect runs op and checks that it closed the channel of Changed taken
// before it exactly when write.
func expect(t *testing.T, r *Registry, name string, write bool, op func() error) {
	t.Helper()
	ch := r.Changed()
	if err := op(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	select {
	case <-ch:
		if !write {
			t.Errorf("%s closed the channel; a read must not", name)
		}
	default:
		if write {
			t.Errorf("%s left the channel open; a write must close it", name)
		}
	}
}
