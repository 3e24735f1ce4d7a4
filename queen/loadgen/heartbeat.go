package loadgen

import (
	"fmt"
	"strconv"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Fixed facts of the simulated agents.
const (
	agentVersion = "9e2061e0c1d2"
	agentListen  = "0.0.0.0:7835"
	startedUnix  = 1_760_000_000
	slots        = 4
	gpus         = 4
)

// models are the model refs workers load, in turn.
var models = []string{
	"hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M",
	"hf:bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q5_K_M",
	"hf:Qwen/Qwen2.5-7B-Instruct-GGUF:q4_k_m",
	"/models/mistral-7b-instruct-v0.3.Q4_K_M.gguf",
}

// Heartbeat returns the body Run sends for hive h, the i-th of the
// config: the agent's facts and n idle workers, every other one on the
// cpu and the rest spread over four CUDA devices. Worker ids are
// w-<i, 6 hex>-<worker, 4 hex>, unique across the hives of one config.
func Heartbeat(i int, h Hive, n int) api.HeartbeatRequest {
	req := api.HeartbeatRequest{
		AgentVersion: agentVersion,
		PID:          2000 + i%30000,
		StartedUnix:  startedUnix,
		Listen:       agentListen,
		Capabilities: []string{api.BackendCPU},
		Workers:      make([]api.Worker, n),
	}
	for d := range gpus {
		req.Capabilities = append(req.Capabilities, api.CapabilityOf(api.BackendCUDA, d))
	}
	host := hostOf(i)
	for j := range req.Workers {
		req.Workers[j] = worker(i, j, h.Name, host)
	}
	return req
}

// worker returns the j-th worker of the i-th hive, called node, on host.
func worker(i, j int, node, host string) api.Worker {
	port := api.DefaultWorkerPortMin + j%(api.DefaultWorkerPortMax-api.DefaultWorkerPortMin+1)
	w := api.Worker{
		ID:             fmt.Sprintf("w-%06x-%04x", i, j),
		Node:           node,
		URL:            "http://" + host + ":" + strconv.Itoa(port),
		ModelRef:       models[j%len(models)],
		Backend:        api.BackendCPU,
		State:          api.WorkerIdle,
		SlotsTotal:     slots,
		SlotsAvailable: slots,
		PID:            20_000 + j,
		StartedUnix:    startedUnix + int64(j),
	}
	if j%2 == 0 {
		w.Backend, w.Device = api.BackendCUDA, (j/2)%gpus
		w.VRAMBytes = 4<<30 + int64(j)<<20
	}
	return w
}
