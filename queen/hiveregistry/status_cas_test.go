package hiveregistry

import (
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestSetStatusFromNeverOverwritesAnotherWrite(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		if err := r.Add(t.Context(), sampleNode(t, "gpu-1")); err != nil {
			t.Fatal(err)
		}
		if err := r.SetStatus(t.Context(), "gpu-1", api.StatusOnline, nil); err != nil {
			t.Fatal(err)
		}
		// The stale check read online; a stop wrote stopped meanwhile.
		if err := r.SetStatus(t.Context(), "gpu-1", api.StatusStopped, nil); err != nil {
			t.Fatal(err)
		}
		done, err := r.SetStatusFrom(t.Context(), "gpu-1", api.StatusOnline, api.StatusOffline, nil)
		if err != nil || done {
			t.Fatalf("SetStatusFrom(online → offline) on a stopped node = %v, %v; want false", done, err)
		}
		if n, _ := r.Get(t.Context(), "gpu-1"); n.Status != api.StatusStopped {
			t.Errorf("status %q, want stopped kept", n.Status)
		}
		done, err = r.SetStatusFrom(t.Context(), "gpu-1", api.StatusStopped, api.StatusOnline, nil)
		if err != nil || !done {
			t.Fatalf("SetStatusFrom(stopped → online) = %v, %v; want true", done, err)
		}
		if _, err := r.SetStatusFrom(t.Context(), "gpu-1", api.StatusOnline, "install_failed", nil); err == nil {
			t.Error("a retired status was accepted")
		}
	})
}
