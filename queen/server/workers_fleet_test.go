package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/hive-agent/devices"
	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// Heartbeat settings of the worker tests' queens.
const (
	workerBeat  = 300 * time.Millisecond
	workerStale = 2 * time.Second
)

// restartableQueen is an in-process queen that a test can stop and start
// again on the same address and registry file, as a queen restart does.
type restartableQueen struct {
	*queen
	addr   string
	cfg    server.Config
	cancel context.CancelFunc
}

func startWorkerQueen(t *testing.T, listenHost string) *restartableQueen {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "beehives.db")
	reg, err := hiveregistry.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(listenHost, "0"))
	if err != nil {
		t.Fatal(err)
	}
	rq := &restartableQueen{addr: ln.Addr().String(), cfg: server.Config{
		Registry: reg, Token: token, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		QueenURL: "http://" + ln.Addr().String(), AgentBinary: buildAgent(t),
		HeartbeatInterval: workerBeat, StaleAfter: workerStale, HeartbeatTimeout: 30 * time.Second,
	}}
	rq.queen = &queen{url: "http://" + rq.addr, dbPath: dbPath, reg: reg}
	rq.serve(t, ln)
	t.Cleanup(func() {
		rq.cancel()
		rq.srv.Close()
		reg.Close()
	})
	return rq
}

// serve runs a fresh server (empty worker registry) on ln.
func (rq *restartableQueen) serve(t *testing.T, ln net.Listener) {
	s := server.New(rq.cfg)
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener = ln
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	rq.srv, rq.cancel = srv, cancel
}

// restart stops the queen and starts a new one on the same address.
func (rq *restartableQueen) restart(t *testing.T) {
	t.Helper()
	rq.cancel()
	rq.srv.Close()
	ln, err := net.Listen("tcp", rq.addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", rq.addr, err)
	}
	rq.serve(t, ln)
}

func (rq *restartableQueen) workers(t *testing.T, query string) []api.Worker {
	t.Helper()
	var l api.WorkerList
	if code := rq.call(t, "GET", "/v1/workers/list"+query, nil, &l); code != http.StatusOK {
		t.Fatalf("list workers%s: %d", query, code)
	}
	return l.Workers
}

func (rq *restartableQueen) spawn(t *testing.T, req api.SpawnWorkerRequest) (api.Worker, int, api.ErrorBody) {
	t.Helper()
	resp := rq.do(t, "POST", "/v1/workers/spawn", req, token, false)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var w api.Worker
	var eb api.ErrorBody
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(data, &w); err != nil {
			t.Fatalf("spawn answer %q: %v", data, err)
		}
	} else {
		_ = json.Unmarshal(data, &eb)
	}
	return w, resp.StatusCode, eb
}

func (rq *restartableQueen) mustSpawn(t *testing.T, req api.SpawnWorkerRequest) api.Worker {
	t.Helper()
	w, code, eb := rq.spawn(t, req)
	if code != http.StatusCreated {
		t.Fatalf("spawn %+v: %d %+v", req, code, eb)
	}
	return w
}

// awaitWorkers waits until the queen lists exactly the ids want (in any
// order) for query, and returns how long it took.
func (rq *restartableQueen) awaitWorkers(t *testing.T, query string, within time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	slices.Sort(want)
	err := fleet.Await(ctx, "workers "+strings.Join(want, ",")+" listed for "+query, func() (bool, string, error) {
		got := ids(rq.workers(t, query))
		return slices.Equal(got, want), strings.Join(got, ","), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func ids(ws []api.Worker) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID
	}
	slices.Sort(out)
	return out
}

func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] != 'Z'
}

// addTestBackends adds backends with the reference worker's fault flags to
// a loopback host's agent config, and a short stop grace.
func addTestBackends(t *testing.T, h *fleet.Host) {
	t.Helper()
	file := filepath.Join(h.InstallDir, "hive-agent.json")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cfg api.AgentConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	base := cfg.Backends[0].Command
	for name, flag := range map[string]string{"never-ready": "--never-ready", "stubborn": "--ignore-sigterm"} {
		cmd := append(slices.Clone(base), flag)
		cfg.Backends = append(cfg.Backends, api.Backend{Name: name, Command: cmd, DeviceKind: api.BackendCPU})
	}
	cfg.WorkerStopGraceMS = 1000
	data, _ = json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (rq *restartableQueen) hiveOp(t *testing.T, name, op string) {
	t.Helper()
	events := rq.stream(t, "POST", "/v1/hives/"+name+"/"+op, nil)
	if last := events[len(events)-1]; last.Error != nil {
		t.Fatalf("hive %s %s: %+v", op, name, last.Error)
	}
}

// TestWorkersOnLoopbackFleet runs the worker life cycle against real
// agents installed over SSH and real reference workers: spawn (cpu and a
// fake 2-GPU cuda), filters, a completion, crash, stop, a worker never
// ready, a queen restart, an agent killed with -9 and started again, and
// the agent's SIGTERM stopping a worker that ignores SIGTERM.
func TestWorkersOnLoopbackFleet(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Loopback, Hosts: 2, Prefix: "wk"})
	cpuHost, gpuHost := f.Hosts[0], f.Hosts[1]
	fake := t.TempDir()
	if _, err := devices.WriteFakeNvidiaSMI(fake, []api.GPU{
		{Index: 0, Name: "Fake GPU A", MemoryTotalByte: 8 << 30, MemoryFreeByte: 2 << 30},
		{Index: 1, Name: "Fake GPU B", MemoryTotalByte: 24 << 30, MemoryFreeByte: 20 << 30},
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetSessionEnv(t.Context(), gpuHost, "PATH="+fake+":"+envValue(f.GoEnv, "PATH"), "RBEE_DEVICE_INTERVAL=200ms"); err != nil {
		t.Fatal(err)
	}
	q := startWorkerQueen(t, "127.0.0.1")
	dumpAgentLogs(t, f)
	addNodes(t, q.queen, f)
	rep, _ := installNodes(t, q.queen, api.InstallRequest{All: true, Method: "upload"})
	requireResults(t, rep, api.ResultInstalled)
	for _, h := range f.Hosts {
		addTestBackends(t, h)
		q.hiveOp(t, h.Name, "stop")
		q.hiveOp(t, h.Name, "start")
	}
	model := "hf:test/tiny-gguf"
	one := 1

	cpuW := q.mustSpawn(t, api.SpawnWorkerRequest{Node: cpuHost.Name, ModelRef: model})
	gpuW := q.mustSpawn(t, api.SpawnWorkerRequest{Node: gpuHost.Name, ModelRef: "hf:test/other", Backend: "cuda", Device: &one})
	t.Run("spawned workers are listed idle", func(t *testing.T) {
		for _, w := range []api.Worker{cpuW, gpuW} {
			if w.State != api.WorkerIdle || w.URL == "" || w.PID == 0 || !alive(w.PID) {
				t.Errorf("spawned %+v: want idle with url and a live pid", w)
			}
		}
		if cpuW.Backend != "cpu" || cpuW.Device != 0 || cpuW.Node != cpuHost.Name || cpuW.ModelRef != model {
			t.Errorf("cpu worker %+v", cpuW)
		}
		if gpuW.Backend != "cuda" || gpuW.Device != 1 || gpuW.Node != gpuHost.Name {
			t.Errorf("cuda worker %+v", gpuW)
		}
		if !strings.HasPrefix(cpuW.URL, "http://127.0.0.1:") {
			t.Errorf("worker url %q, want the node's address", cpuW.URL)
		}
		got := ids(q.workers(t, ""))
		if want := ids([]api.Worker{cpuW, gpuW}); !slices.Equal(got, want) {
			t.Errorf("listed %v, want %v", got, want)
		}
	})
	t.Run("the queen shows each node's devices", func(t *testing.T) {
		gpus := awaitGPUs(t, q.queen, gpuHost.Name, 2)
		if gpus[0].Name != "Fake GPU A" || gpus[0].MemoryTotalByte != 8<<30 || gpus[0].MemoryFreeByte != 2<<30 ||
			gpus[1].Name != "Fake GPU B" || gpus[1].MemoryTotalByte != 24<<30 {
			t.Errorf("GPUs at the queen %+v, want the fake's two", gpus)
		}
		cpu := getNode(t, q.queen, cpuHost.Name).Devices
		if cpu == nil || len(cpu.GPUs) != 0 || cpu.CPU.Cores < 1 || cpu.CPU.RAMBytes <= 0 || cpu.CPU.RAMFreeBytes <= 0 {
			t.Errorf("devices of the CPU node %+v, want cores, RAM and free RAM and no GPU", cpu)
		}
		if st := hiveStatus(t, q.queen, gpuHost.Name); st.Devices == nil || len(st.Devices.GPUs) != 2 {
			t.Errorf("hive status devices %+v, want the two GPUs", st.Devices)
		}
	})
	t.Run("a completion through the worker url", func(t *testing.T) {
		body := strings.NewReader(`{"model":"` + model + `","prompt":"the quick brown fox","max_tokens":3}`)
		resp, err := http.Post(cpuW.URL+"/v1/completions", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Choices []struct{ Text string } `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 ||
			len(out.Choices) != 1 || len(strings.Fields(out.Choices[0].Text)) == 0 || len(strings.Fields(out.Choices[0].Text)) > 3 {
			t.Errorf("completion: %s %+v (%v)", resp.Status, out, err)
		}
	})
	t.Run("device out of range lists the devices", func(t *testing.T) {
		five := 5
		_, code, eb := q.spawn(t, api.SpawnWorkerRequest{Node: gpuHost.Name, ModelRef: model, Backend: "cuda", Device: &five})
		if code != http.StatusUnprocessableEntity || eb.Error.Code != api.CodeDeviceUnavailable ||
			!strings.Contains(eb.Error.Message, "available: [0, 1]") || !strings.Contains(eb.Error.Hint, "--device 0 or --device 1") {
			t.Errorf("device 5: %d %+v", code, eb)
		}
		_, code, eb = q.spawn(t, api.SpawnWorkerRequest{Node: cpuHost.Name, ModelRef: model, Backend: "cuda"})
		if code != http.StatusUnprocessableEntity || eb.Error.Code != api.CodeDeviceUnavailable {
			t.Errorf("cuda on a node without GPU: %d %+v", code, eb)
		}
		_, code, eb = q.spawn(t, api.SpawnWorkerRequest{Node: cpuHost.Name, ModelRef: model, Backend: "rocm"})
		if code != http.StatusUnprocessableEntity || eb.Error.Code != api.CodeBackendUnavailable ||
			!strings.Contains(eb.Error.Message, "available: [cpu") || strings.Contains(eb.Error.Message, "cuda") ||
			!strings.Contains(eb.Error.Message, "no NVIDIA GPU found") {
			t.Errorf("unknown backend on a node without GPU: %d %+v, want only the backends that can run there", code, eb)
		}
	})
	t.Run("filters", func(t *testing.T) {
		for query, want := range map[string][]api.Worker{
			"?capability=cuda:1":                    {gpuW},
			"?capability=cuda:0":                    nil,
			"?capability=cpu":                       {cpuW},
			"?model=" + model:                       {cpuW},
			"?state=idle":                           {cpuW, gpuW},
			"?state=loading":                        nil,
			"?node=" + gpuHost.Name + "&state=idle": {gpuW},
		} {
			if got := ids(q.workers(t, query)); !slices.Equal(got, ids(want)) {
				t.Errorf("list%s = %v, want %v", query, got, ids(want))
			}
		}
	})
	t.Run("wrong worker token at the ready callback", func(t *testing.T) {
		cb, _ := json.Marshal(api.ReadyCallback{ID: cpuW.ID, URL: cpuW.URL, ModelRef: model, Backend: "cpu"})
		// The agent listens on its Unix socket (transport ssh).
		sock := filepath.Join(cpuHost.InstallDir, "run", "hive-agent.sock")
		agentHTTP := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, "unix", sock)
		}}}
		req, _ := http.NewRequest("POST", "http://hive-agent/v1/workers/ready", bytes.NewReader(cb))
		req.Header.Set("Authorization", "Bearer not-the-token")
		resp, err := agentHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("ready callback with a wrong token: %s, want 401", resp.Status)
		}
	})
	t.Run("a crashed worker is seen and restarted under its id", func(t *testing.T) {
		if err := syscall.Kill(cpuW.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		err := fleet.Await(ctx, "the crashed worker back, restarted", func() (bool, string, error) {
			for _, w := range q.workers(t, "?node="+cpuHost.Name) {
				if w.ID == cpuW.ID {
					return w.Restarts == 1 && w.State == api.WorkerIdle && w.PID != cpuW.PID && alive(w.PID),
						fmt.Sprintf("%s restarts %d pid %d", w.State, w.Restarts, w.PID), nil
				}
			}
			return false, "not listed", nil
		})
		if err != nil {
			t.Fatal(err)
		}
		agentLog, _ := os.ReadFile(filepath.Join(cpuHost.InstallDir, "logs", "hive-agent.log"))
		if !bytes.Contains(agentLog, []byte("exited with code 137")) || !bytes.Contains(agentLog, []byte("stderr_tail=")) {
			t.Errorf("the agent log does not report the crash with its exit code and output:\n%s", agentLog)
		}
		if code := q.call(t, "POST", "/v1/workers/"+cpuW.ID+"/stop", nil, nil); code != http.StatusOK {
			t.Fatalf("stop the restarted worker: %d", code)
		}
	})
	t.Run("stop through the queen", func(t *testing.T) {
		var stopped api.Worker
		if code := q.call(t, "POST", "/v1/workers/"+gpuW.ID+"/stop", nil, &stopped); code != http.StatusOK || stopped.ID != gpuW.ID {
			t.Fatalf("stop: %d %+v", code, stopped)
		}
		if alive(gpuW.PID) {
			t.Errorf("worker pid %d still runs after stop", gpuW.PID)
		}
		if got := q.workers(t, ""); len(got) != 0 {
			t.Errorf("after stop the queen lists %v", ids(got))
		}
		if code := q.call(t, "POST", "/v1/workers/"+gpuW.ID+"/stop", nil, nil); code != http.StatusNotFound {
			t.Errorf("second stop: %d, want 404", code)
		}
	})
	t.Run("never ready fails after the ready timeout", func(t *testing.T) {
		start := time.Now()
		_, code, eb := q.spawn(t, api.SpawnWorkerRequest{Node: cpuHost.Name, ModelRef: model, Backend: "never-ready", ReadyTimeoutMS: 1500})
		if code != http.StatusGatewayTimeout || eb.Error.Code != api.CodeLoadingTimeout {
			t.Fatalf("never-ready spawn: %d %+v", code, eb)
		}
		if took := time.Since(start); took < 1500*time.Millisecond {
			t.Errorf("spawn failed after %v, before the ready timeout", took)
		}
		if pids := fleet.PIDsWith(cpuHost.InstallDir, "--never-ready"); len(pids) != 0 {
			t.Errorf("never-ready workers left running: %v", pids)
		}
		if got := q.workers(t, ""); len(got) != 0 {
			t.Errorf("after a failed spawn the queen lists %v", ids(got))
		}
	})

	a := q.mustSpawn(t, api.SpawnWorkerRequest{Node: cpuHost.Name, ModelRef: model})
	b := q.mustSpawn(t, api.SpawnWorkerRequest{Node: gpuHost.Name, ModelRef: model})
	t.Run("queen restart rebuilds the registry within one interval", func(t *testing.T) {
		q.restart(t)
		if got := q.workers(t, ""); len(got) != 0 {
			t.Fatalf("a fresh queen lists %v", ids(got))
		}
		took := q.awaitWorkers(t, "", 5*time.Second, a.ID, b.ID)
		t.Logf("registry whole again %v after the restart (interval %v)", took, workerBeat)
		if took > 2*workerBeat+time.Second {
			t.Errorf("registry whole after %v, want about one interval (%v)", took, workerBeat)
		}
		awaitGPUs(t, q.queen, gpuHost.Name, 2) // the queen asked for them again
	})
	t.Run("a GPU that appears after start is seen", func(t *testing.T) {
		if _, err := devices.WriteFakeNvidiaSMI(fake, []api.GPU{
			{Index: 0, Name: "Fake GPU A", MemoryTotalByte: 8 << 30, MemoryFreeByte: 2 << 30},
			{Index: 1, Name: "Fake GPU B", MemoryTotalByte: 24 << 30, MemoryFreeByte: 20 << 30},
			{Index: 2, Name: "Fake GPU C", MemoryTotalByte: 48 << 30, MemoryFreeByte: 47 << 30},
		}); err != nil {
			t.Fatal(err)
		}
		if gpus := awaitGPUs(t, q.queen, gpuHost.Name, 3); gpus[2].Name != "Fake GPU C" {
			t.Errorf("GPUs %+v, want Fake GPU C third", gpus)
		}
	})
	t.Run("agent killed and started again adopts its workers", func(t *testing.T) {
		st := hiveStatus(t, q.queen, cpuHost.Name)
		if err := syscall.Kill(st.AgentPID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if !alive(a.PID) {
			t.Fatal("the worker died with its agent")
		}
		q.hiveOp(t, cpuHost.Name, "start")
		q.awaitWorkers(t, "?node="+cpuHost.Name, 5*time.Second, a.ID)
		got := q.workers(t, "?node="+cpuHost.Name)
		if got[0].PID != a.PID || got[0].State != api.WorkerIdle {
			t.Errorf("after the agent restart the queen lists %+v, want pid %d idle", got[0], a.PID)
		}
		if pids := fleet.PIDsWith(cpuHost.InstallDir, "rbee-worker"); !slices.Equal(pids, []int{a.PID}) {
			t.Errorf("worker processes on the node: %v, want only %d", pids, a.PID)
		}
	})
	t.Run("agent SIGTERM stops its workers and deregisters them", func(t *testing.T) {
		s := q.mustSpawn(t, api.SpawnWorkerRequest{Node: gpuHost.Name, ModelRef: model, Backend: "stubborn"})
		start := time.Now()
		q.hiveOp(t, gpuHost.Name, "stop")
		took := time.Since(start)
		if took > 15*time.Second {
			t.Errorf("agent stop took %v, want within 15s", took)
		}
		for _, pid := range []int{s.PID, b.PID} {
			if alive(pid) {
				t.Errorf("worker %d runs after its agent stopped", pid)
			}
		}
		if got := q.workers(t, "?node="+gpuHost.Name); len(got) != 0 {
			t.Errorf("after the agent stopped the queen lists %v", ids(got))
		}
	})
}

// TestWorkersSurviveAPartition cuts a netns hive of the http transport off
// for longer than --stale-after: its workers leave the queen's registry and
// the hive goes offline; after Heal it is online again with the same
// workers, once each. (TestSSHTransportNetns does the same over ssh.)
func TestWorkersSurviveAPartition(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Netns, Hosts: 1, Prefix: "wpart"})
	h := f.Hosts[0]
	q := startWorkerQueen(t, f.Net.BridgeIP)
	req := addRequest(f, h, h.Name)
	req.AgentPort, req.Transport = h.AgentPort, api.TransportHTTP
	if st := q.call(t, "POST", "/v1/hives", req, nil); st != http.StatusCreated {
		t.Fatalf("add %s: status %d", h.Name, st)
	}
	rep, _ := installNodes(t, q.queen, api.InstallRequest{All: true, Method: "upload"})
	requireResults(t, rep, api.ResultInstalled)
	a := q.mustSpawn(t, api.SpawnWorkerRequest{Node: h.Name, ModelRef: "hf:test/a"})
	b := q.mustSpawn(t, api.SpawnWorkerRequest{Node: h.Name, ModelRef: "hf:test/b"})
	if !strings.HasPrefix(a.URL, "http://"+h.Addr+":") {
		t.Errorf("worker url %q, want the node's address %s", a.URL, h.Addr)
	}

	if err := f.Cut(h); err != nil {
		t.Fatal(err)
	}
	took := q.awaitWorkers(t, "", workerStale+5*time.Second)
	t.Logf("workers removed %v after the cut (stale after %v)", took, workerStale)
	awaitStatus(t, q.queen, h.Name, api.StatusOffline)
	time.Sleep(workerBeat) // the agent keeps failing to beat for a while

	if err := f.Heal(h); err != nil {
		t.Fatal(err)
	}
	q.awaitWorkers(t, "", 10*time.Second, a.ID, b.ID)
	awaitStatus(t, q.queen, h.Name, api.StatusOnline)
	for range 3 { // a few more beats: still once each
		time.Sleep(workerBeat)
		if got := ids(q.workers(t, "")); !slices.Equal(got, ids([]api.Worker{a, b})) {
			t.Fatalf("after Heal the queen lists %v", got)
		}
	}
}

// dumpAgentLogs prints the agents' logs of a loopback fleet when the test
// fails.
// awaitGPUs waits until the queen lists n GPUs for node and returns them.
func awaitGPUs(t *testing.T, q *queen, node string, n int) []api.GPU {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var gpus []api.GPU
	err := fleet.Await(ctx, fmt.Sprintf("%d GPUs of %s at the queen", n, node), func() (bool, string, error) {
		d := getNode(t, q, node).Devices
		if d == nil {
			return false, "no devices", nil
		}
		gpus = d.GPUs
		return len(gpus) == n, fmt.Sprintf("%+v", gpus), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return gpus
}

func dumpAgentLogs(t *testing.T, f *fleet.Fleet) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, h := range f.Hosts {
			data, _ := os.ReadFile(filepath.Join(h.InstallDir, "logs", "hive-agent.log"))
			t.Logf("--- agent log of %s ---\n%s", h.Name, data)
		}
	})
}
