package hiveregistry

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/testenv/pgtest"
)

// TestPostgresRestartUnderLoad restarts the server of its own cluster
// while four writers add nodes: every add either lands or fails busy
// (nothing written, try again), every acknowledged add is there after the
// restart and no busy one is, and the same registry writes again without
// being reopened.
func TestPostgresRestartUnderLoad(t *testing.T) {
	c := pgtest.Start(t)
	r, err := OpenStore(t.Context(), c.NewDatabase(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var mu sync.Mutex
	acked, busy := map[string]bool{}, map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("gpu-%d-%d", w, i)
				err := r.Add(t.Context(), sampleNode(t, name))
				mu.Lock()
				switch {
				case err == nil:
					acked[name] = true
				case IsBusy(err):
					busy[name] = true
				default:
					t.Errorf("add %s: %v (neither acknowledged nor busy)", name, err)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := r.Add(t.Context(), sampleNode(t, "after-restart")); err != nil {
		t.Fatalf("add after the restart: %v", err)
	}
	for name := range acked {
		if _, err := r.Get(t.Context(), name); err != nil {
			t.Errorf("acknowledged %s lost: %v", name, err)
		}
	}
	for name := range busy {
		if _, err := r.Get(t.Context(), name); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s failed busy but is there: %v", name, err)
		}
	}
	t.Logf("%d adds acknowledged, %d busy during the restart", len(acked), len(busy))
	if len(busy) == 0 {
		t.Log("no write met the restart (the machine was too slow to overlap them)")
	}
}
