package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// placement is a node and device a model may be spawned on.
type placement struct {
	node   string
	device int
	free   int64
}

// spawn starts one worker of spec for the requests queued on its model and
// hands it to them; when no node takes it they all get 503.
func (g *Gateway) spawn(spec ModelSpec) {
	w, err := g.spawnSomewhere(spec)
	if err != nil {
		g.log.Warn("spawn on demand failed", "model", spec.Model, "err", err)
		g.table.failWaiters(spec.Model, &apiError{status: http.StatusServiceUnavailable, typ: typeServer,
			code: codeSpawnFailed, retryAfter: 5, msg: fmt.Sprintf("spawn of a worker of %s failed: %v", spec.Model, err)})
		return
	}
	g.log.Info("spawned on demand", "model", spec.Model, "worker", w.ID, "node", w.Node, "device", w.Device)
	g.table.adopt(w, time.Now())
}

// spawnSomewhere tries the placements of spec, most free memory first.
func (g *Gateway) spawnSomewhere(spec ModelSpec) (api.Worker, error) {
	nodes, err := g.cfg.Fleet.Nodes(g.base)
	if err != nil {
		return api.Worker{}, fmt.Errorf("list nodes: %w", err)
	}
	places := placements(nodes, spec)
	if len(places) == 0 {
		return api.Worker{}, fmt.Errorf("no online node has %s memory of at least %d bytes free", spec.DeviceKind, spec.MinFreeBytes)
	}
	var errs []error
	for _, p := range places {
		device := p.device
		w, err := g.cfg.Fleet.Spawn(g.base, api.SpawnWorkerRequest{Node: p.node, ModelRef: spec.Model,
			Backend: spec.Backend, Device: &device, ReadyTimeoutMS: spec.ReadyTimeoutMS})
		if err == nil {
			return w, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.node, err))
		if g.base.Err() != nil {
			break
		}
	}
	return api.Worker{}, errors.Join(errs...)
}

// placements lists where spec fits, the most free memory first (ties by
// node name).
func placements(nodes []NodeDevices, spec ModelSpec) []placement {
	var out []placement
	for _, n := range nodes {
		if spec.DeviceKind == api.BackendCPU {
			out = append(out, placement{node: n.Node, free: n.Devices.CPU.RAMBytes})
			continue
		}
		for _, gpu := range n.Devices.GPUs {
			out = append(out, placement{node: n.Node, device: gpu.Index, free: gpu.MemoryFreeByte})
		}
	}
	out = slices.DeleteFunc(out, func(p placement) bool { return p.free < spec.MinFreeBytes })
	slices.SortStableFunc(out, func(a, b placement) int {
		if c := cmp.Compare(b.free, a.free); c != 0 {
			return c
		}
		return cmp.Compare(a.node, b.node)
	})
	return out
}

// adopt puts a worker the gateway spawned into the table (ahead of the
// registry's next rebuild), marks it as the gateway's and ends the spawn.
func (t *table) adopt(w api.Worker, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.apply(&w, now)
	u.spawned = true
	t.spawned[u] = struct{}{}
	p := t.pools[w.ModelRef]
	if p == nil {
		p = &pool{}
		t.pools[w.ModelRef] = p
	}
	p.spawning = false
	if slices.Contains(p.ups, u) {
		u.changed()
	} else {
		p.setUps(append(slices.Clip(p.ups), u))
	}
	t.serveQueue(p, now)
}
