package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rbee-fleet/rbee/queen/gateway"
	"github.com/rbee-fleet/rbee/shared/api"
)

// devicesTimeout bounds the gateway's ask for a node's devices.
const devicesTimeout = 5 * time.Second

// gatewayFleet is the queen as the gateway's [gateway.Fleet]: spawn and
// stop through the agents, as POST /v1/workers/spawn and …/stop do.
type gatewayFleet struct{ s *Server }

var _ gateway.Fleet = gatewayFleet{}

// Nodes returns the online nodes whose agents answered GET /v1/devices.
func (f gatewayFleet) Nodes(ctx context.Context) ([]gateway.NodeDevices, error) {
	nodes, err := f.s.cfg.Registry.List(ctx)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []gateway.NodeDevices
	for _, n := range nodes {
		if n.Status != api.StatusOnline {
			continue
		}
		wg.Go(func() {
			d, err := f.devices(ctx, n.NodeName)
			if err != nil {
				f.s.log.Warn("gateway: devices of node not known; not spawning there", "node", n.NodeName, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			out = append(out, gateway.NodeDevices{Node: n.NodeName, Devices: d})
		})
	}
	wg.Wait()
	return out, nil
}

func (f gatewayFleet) devices(ctx context.Context, node string) (api.Devices, error) {
	a, err := f.s.agentFor(ctx, node)
	if err != nil {
		return api.Devices{}, err
	}
	var d api.Devices
	status, detail, err := a.call(ctx, devicesTimeout, http.MethodGet, "/v1/devices", nil, &d)
	return d, callResult(status, detail, err)
}

// Spawn starts a worker through its node's agent and registers it.
func (f gatewayFleet) Spawn(ctx context.Context, req api.SpawnWorkerRequest) (api.Worker, error) {
	if err := req.Validate(true); err != nil {
		return api.Worker{}, err
	}
	if req.ReadyTimeoutMS == 0 {
		req.ReadyTimeoutMS = api.DefaultReadyTimeoutMS
	}
	a, err := f.s.agentFor(ctx, req.Node)
	if err != nil {
		return api.Worker{}, err
	}
	body := req
	body.Node = ""
	var wk api.Worker
	status, detail, err := a.call(ctx, time.Duration(req.ReadyTimeoutMS)*time.Millisecond+spawnSlack,
		http.MethodPost, "/v1/workers/spawn", body, &wk)
	if err := callResult(status, detail, err); err != nil {
		return api.Worker{}, err
	}
	if err := api.ValidateWorker(wk); err != nil || wk.Node != req.Node {
		return api.Worker{}, fmt.Errorf("agent of %s answered the spawn with a bad worker record (%v)", req.Node, err)
	}
	if _, err := f.s.workers.Register(req.Node, wk, f.s.cfg.Now()); err != nil {
		return api.Worker{}, err
	}
	f.s.log.Info("worker spawned by the gateway", "node", req.Node, "worker", wk.ID, "url", wk.URL)
	return wk, nil
}

// Stop stops a worker through its agent and deregisters it.
func (f gatewayFleet) Stop(ctx context.Context, id string) error {
	wk, ok := f.s.workers.Get(id)
	if !ok {
		return nil // gone already
	}
	a, err := f.s.agentFor(ctx, wk.Node)
	if err != nil {
		return err
	}
	status, detail, err := a.call(ctx, agentCallTimeout, http.MethodPost, "/v1/workers/"+url.PathEscape(id)+"/stop", nil, &api.Worker{})
	if err := callResult(status, detail, err); err != nil && status != http.StatusNotFound {
		return err
	}
	_, _ = f.s.workers.Remove(wk.Node, id)
	f.s.log.Info("worker stopped by the gateway", "node", wk.Node, "worker", id)
	return nil
}

// callResult turns an agent call's outcome into an error: the call's own,
// or the agent's error answer.
func callResult(status int, detail api.ErrorDetail, err error) error {
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return fmt.Errorf("agent answered %d %s: %s", status, detail.Code, detail.Message)
	}
	return nil
}

// errNotOnline is wrapped by agentFor's error for a node that is not
// online.
var errNotOnline = errors.New("node is not online")

// agentFor returns the agent of an online node.
func (s *Server) agentFor(ctx context.Context, node string) (agent, error) {
	n, err := s.cfg.Registry.Get(ctx, node)
	if err != nil {
		return agent{}, err
	}
	token, err := s.cfg.Registry.AgentToken(ctx, node)
	if err != nil {
		return agent{}, err
	}
	if n.Status != api.StatusOnline || n.AgentURL == "" || token == "" {
		return agent{}, fmt.Errorf("%w: %s is %s", errNotOnline, node, n.Status)
	}
	return agent{node: node, url: strings.TrimRight(agentBase(n), "/"), shown: n.AgentURL, token: token, http: s.agentClient(n)}, nil
}
