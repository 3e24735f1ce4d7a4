package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Spawn limits.
const (
	// portAttempts bounds how many ports one spawn tries when a worker
	// finds its port taken after all.
	portAttempts = 5
	// healthPoll is the interval of readiness polls of a health URL.
	healthPoll = 200 * time.Millisecond
	// abortGrace is the SIGTERM grace of a worker whose spawn gave up.
	abortGrace = 2 * time.Second
)

// Spawn starts a worker for req and returns it once it is ready. A worker
// that exits before, or is not ready within the ready timeout, or whose
// spawn ctx ends, is gone (and deregistered) when Spawn returns its error.
func (s *Supervisor) Spawn(ctx context.Context, req api.SpawnWorkerRequest) (api.Worker, error) {
	if err := req.Validate(false); err != nil {
		return api.Worker{}, errorf(http.StatusBadRequest, api.CodeInvalidField, "fix the field and spawn again", err.Error())
	}
	if req.Backend == "" {
		req.Backend = api.BackendCPU
	}
	backend, err := s.backend(ctx, req.Backend)
	if err != nil {
		return api.Worker{}, err
	}
	device, err := s.device(ctx, backend, req.Device)
	if err != nil {
		return api.Worker{}, err
	}
	timeout := time.Duration(req.ReadyTimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = api.DefaultReadyTimeoutMS * time.Millisecond
	}
	deadline := time.Now().Add(timeout)
	var tried []int
	for range portAttempts {
		w, conflict, err := s.spawnOnce(ctx, req, backend, device, deadline, timeout)
		if conflict == 0 {
			return w, err
		}
		tried = append(tried, conflict)
		s.log.Info("worker port was taken after all; trying the next one", "port", conflict)
	}
	return api.Worker{}, errorf(http.StatusServiceUnavailable, api.CodeNoFreePort,
		"free ports in the worker range, or widen worker_port_min/max in the agent config",
		fmt.Sprintf("workers could not bind any of the ports %v", tried))
}

// spawnOnce starts one worker on a free port and waits for it. conflict is
// the port when the worker exited because something else took that port:
// the caller tries another one.
func (s *Supervisor) spawnOnce(ctx context.Context, req api.SpawnWorkerRequest, backend api.Backend, device int,
	deadline time.Time, timeout time.Duration) (w api.Worker, conflict int, err error) {
	id := newID()
	port, err := s.reservePort(id)
	if err != nil {
		return api.Worker{}, 0, err
	}
	w = api.Worker{
		ID: id, Node: s.cfg.Node, ModelRef: req.ModelRef, Backend: req.Backend, Device: device,
		State: api.WorkerLoading, SlotsTotal: 1, StartedUnix: time.Now().Unix(), URL: s.workerURL(port),
	}
	p := newProc(w, newToken(), port, s.logPath(id))
	p.readyTimeout = timeout
	if err := s.add(p); err != nil {
		return api.Worker{}, 0, err
	}
	if err := s.launch(ctx, p, backend); err != nil {
		s.mu.Lock()
		delete(s.workers, id)
		delete(s.ports, port)
		s.mu.Unlock()
		close(p.gone) // nothing to wait for
		return api.Worker{}, 0, s.startError(backend, err)
	}
	return s.awaitReady(ctx, p, deadline, timeout)
}

// launch starts p from backend's command template on p's port, watches
// its exit, relays it as registered and, for a backend with a health URL,
// polls that for readiness until ctx ends. An error means p did not start.
func (s *Supervisor) launch(ctx context.Context, p *proc, backend api.Backend) error {
	w := p.record()
	values := s.placeholders(w, p.port)
	argv := make([]string, len(backend.Command))
	for i, arg := range backend.Command {
		argv[i] = expand(arg, values)
	}
	p.setHealthURL(backend, values)
	err := s.ensureDirs()
	if err == nil {
		err = p.start(argv)
	}
	if err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	w = p.record()
	s.log.Info("worker started", "worker", w.ID, "pid", w.PID, "port", p.port, "model", w.ModelRef,
		"backend", w.Backend, "device", w.Device, "restarts", w.Restarts, "log", p.logPath)
	s.save()
	go func() { s.exited(p, p.wait()) }()
	if p.stopRequested() { // a stop came between add (or swap) and start
		p.terminate(abortGrace, s.log)
	}
	s.relayRegister(ctx, w)
	close(p.registered)
	if backend.HealthURL != "" {
		go s.pollHealth(ctx, p, p.healthCheckURL(), backend.SlotsTotal)
	}
	return nil
}

// placeholders returns the values of the command template placeholders
// for worker w on port.
func (s *Supervisor) placeholders(w api.Worker, port int) map[string]string {
	return map[string]string{
		"{worker_id}": w.ID, "{model_ref}": w.ModelRef, "{backend}": w.Backend,
		"{device}": strconv.Itoa(w.Device), "{port}": strconv.Itoa(port), "{callback_url}": s.cfg.CallbackURL,
	}
}

// workerURL is the URL of the worker on port.
func (s *Supervisor) workerURL(port int) string {
	return "http://" + net.JoinHostPort(s.cfg.WorkerHost, strconv.Itoa(port))
}

// awaitReady waits until the spawned p is ready, and ends it when it is not
// by deadline or ctx ends.
func (s *Supervisor) awaitReady(ctx context.Context, p *proc, deadline time.Time, timeout time.Duration) (api.Worker, int, error) {
	id, port := p.record().ID, p.port
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-p.ready:
		return p.record(), 0, nil
	case <-p.gone:
		if isClosed(p.ready) { // ready, then crashed at once: restarted or failed, no longer the spawn's
			return p.record(), 0, nil
		}
		if p.stopRequested() {
			return api.Worker{}, 0, errorf(http.StatusServiceUnavailable, api.CodeWorkerFailed,
				"spawn it again once the agent runs", fmt.Sprintf("worker %s was stopped while loading (the agent is shutting down or it was stopped by request)", id))
		}
		if !portFree(port) {
			return api.Worker{}, port, nil
		}
		return api.Worker{}, 0, errorf(http.StatusBadGateway, api.CodeWorkerFailed,
			"read the worker's log on the node ("+p.logPath+") and fix the backend or model",
			fmt.Sprintf("worker %s exited with code %d before it was ready: %s", id, p.exitCode, oneLine(tail(p.logPath, 5))))
	case <-timer.C:
		out := tail(p.logPath, 5)
		s.abort(p)
		return api.Worker{}, 0, errorf(http.StatusGatewayTimeout, api.CodeLoadingTimeout,
			"raise --ready-timeout if the model needs longer to load, or read the worker's output",
			fmt.Sprintf("worker %s not ready after %s; it was stopped; last output: %s", id, timeout, oneLine(out)))
	case <-ctx.Done():
		s.abort(p)
		return api.Worker{}, 0, fmt.Errorf("spawn of worker %s cancelled; it was stopped: %w", id, ctx.Err())
	}
}

// abort stops a worker whose spawn gave up and waits until it is gone.
func (s *Supervisor) abort(p *proc) {
	p.terminate(abortGrace, s.log)
	<-p.gone
}

// add records p, unless the supervisor is shutting down.
func (s *Supervisor) add(p *proc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		delete(s.ports, p.port)
		return errorf(http.StatusServiceUnavailable, api.CodeHiveNotOnline, "start the agent again", "the agent is shutting down")
	}
	s.workers[p.record().ID] = p
	return nil
}

// startError says why the worker of backend did not start: its command
// is not installed on the node (503 BACKEND_NOT_INSTALLED), or another
// failure to start it (500 WORKER_FAILED).
func (s *Supervisor) startError(backend api.Backend, err error) *Error {
	cmd := backend.Command[0]
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
		return errorf(http.StatusServiceUnavailable, api.CodeBackendNotInstalled, s.installHint(cmd),
			fmt.Sprintf("backend %s is not installed on %s: its command %s was not found", backend.Name, s.cfg.Node, cmd))
	}
	return errorf(http.StatusInternalServerError, api.CodeWorkerFailed,
		"check the command of backend "+backend.Name+" in the agent config ("+cmd+") and the agent's log",
		fmt.Sprintf("worker of backend %s did not start on %s: %v", backend.Name, s.cfg.Node, err))
}

// installHint is the next step for a backend command that is missing: the
// install that puts it in place when it lives under the install path (the
// reference worker, <install path>/bin/rbee-worker), else installing it or
// fixing the backend.
func (s *Supervisor) installHint(cmd string) string {
	reinstall := "run `queen setup install --node " + s.cfg.Node + "` on the queen"
	if s.cfg.InstallPath != "" && strings.HasPrefix(cmd, filepath.Clean(s.cfg.InstallPath)+string(filepath.Separator)) {
		return reinstall + " to put it back"
	}
	return "install " + cmd + " on " + s.cfg.Node + ", fix the backend's command in the agent config, or " + reinstall
}

// backend returns the configured backend called name. For another name
// the error lists the backends that can run here: every CPU backend whose
// command is installed, and GPU ones only when nvidia-smi finds a GPU.
func (s *Supervisor) backend(ctx context.Context, name string) (api.Backend, error) {
	if b, ok := s.configured(name); ok {
		return b, nil
	}
	gpus := len(s.cfg.Devices(ctx).GPUs) > 0
	var names []string
	for _, b := range s.cfg.Backends {
		if (gpus || b.Kind() == api.BackendCPU) && installed(b) {
			names = append(names, b.Name)
		}
	}
	msg := fmt.Sprintf("backend %s not available on %s; available: [%s]", name, s.cfg.Node, strings.Join(names, ", "))
	hint := "use one of the backends listed, or add one to the agent config's \"backends\""
	if !gpus {
		msg += "; " + noGPU
		hint += "; for cuda " + driverHint
	}
	return api.Backend{}, errorf(http.StatusUnprocessableEntity, api.CodeBackendUnavailable, hint, msg)
}

// configured returns the backend called name in the agent config.
func (s *Supervisor) configured(name string) (api.Backend, bool) {
	for _, b := range s.cfg.Backends {
		if b.Name == name {
			return b, true
		}
	}
	return api.Backend{}, false
}

// What a spawn that needs a GPU says on a node where nvidia-smi finds none.
const (
	noGPU      = "no NVIDIA GPU found by nvidia-smi"
	driverHint = "install the NVIDIA driver (nvidia-smi must list the GPU), then restart the agent"
)

// installed reports whether the command of b is there to run.
func installed(b api.Backend) bool {
	_, err := exec.LookPath(b.Command[0])
	return err == nil
}

// device checks or picks the device of a spawn: the cpu backend has device
// 0; a GPU backend takes a GPU index that nvidia-smi reports, by default
// the one with the most free memory.
func (s *Supervisor) device(ctx context.Context, b api.Backend, want *int) (int, error) {
	backend := b.Name
	if b.Kind() == api.BackendCPU {
		if want != nil && *want != 0 {
			return 0, errorf(http.StatusUnprocessableEntity, api.CodeDeviceUnavailable, "try --device 0 or leave --device out",
				fmt.Sprintf("device %d not available for backend %s on %s; available: [0]", *want, backend, s.cfg.Node))
		}
		return 0, nil
	}
	devs := s.cfg.Devices(ctx)
	if len(devs.GPUs) == 0 {
		return 0, errorf(http.StatusUnprocessableEntity, api.CodeDeviceUnavailable, "use --backend cpu on this node, or "+driverHint,
			fmt.Sprintf("no GPU for backend %s on %s: %s; available: [%s]", backend, s.cfg.Node, noGPU, strings.Join(devs.Capabilities, ", ")))
	}
	indexes := make([]string, len(devs.GPUs))
	best := devs.GPUs[0]
	for i, g := range devs.GPUs {
		indexes[i] = strconv.Itoa(g.Index)
		if want != nil && g.Index == *want {
			return g.Index, nil
		}
		if g.MemoryFreeByte > best.MemoryFreeByte {
			best = g
		}
	}
	if want == nil {
		return best.Index, nil
	}
	tries := make([]string, len(indexes))
	for i, x := range indexes {
		tries[i] = "--device " + x
	}
	return 0, errorf(http.StatusUnprocessableEntity, api.CodeDeviceUnavailable, "try "+strings.Join(tries, " or "),
		fmt.Sprintf("device %d not available on %s; available: [%s]", *want, s.cfg.Node, strings.Join(indexes, ", ")))
}

// reservePort returns the lowest port of the range that no worker of this
// agent holds and that the OS lets us bind now, and keeps it for id.
func (s *Supervisor) reservePort(id string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for port := s.cfg.PortMin; port <= s.cfg.PortMax; port++ {
		if _, held := s.ports[port]; held || !portFree(port) {
			continue
		}
		s.ports[port] = id
		return port, nil
	}
	return 0, errorf(http.StatusServiceUnavailable, api.CodeNoFreePort,
		"stop a worker (`queen workers stop --id W`) or widen worker_port_min/max in the agent config",
		fmt.Sprintf("no free port in %d–%d on %s", s.cfg.PortMin, s.cfg.PortMax, s.cfg.Node))
}

// portFree reports whether the OS lets us bind port on every interface.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// pollHealth marks p ready once url answers 2xx, until p is ready or gone
// or ctx ends.
func (s *Supervisor) pollHealth(ctx context.Context, p *proc, url string, slots int) {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(healthPoll)
	defer tick.Stop()
	for {
		select {
		case <-p.ready:
			return
		case <-p.gone:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			s.becomeReady(ctx, p, slots, 0)
			return
		}
	}
}

// expand replaces the placeholders in a template argument in one pass: a
// value put in for a placeholder is never scanned again, so a model ref
// such as hf:x/{port} reaches the worker as it is.
func expand(arg string, values map[string]string) string {
	if !strings.Contains(arg, "{") {
		return arg
	}
	var b strings.Builder
	for i := 0; i < len(arg); {
		ph := placeholderAt(arg[i:])
		if ph == "" {
			b.WriteByte(arg[i])
			i++
			continue
		}
		b.WriteString(values[ph])
		i += len(ph)
	}
	return b.String()
}

// placeholderAt returns the placeholder s starts with, or "".
func placeholderAt(s string) string {
	if !strings.HasPrefix(s, "{") {
		return ""
	}
	for _, ph := range api.Placeholders {
		if strings.HasPrefix(s, ph) {
			return ph
		}
	}
	return ""
}

// oneLine joins the lines of s with " | " for a one-line message.
func oneLine(s string) string {
	if s == "" {
		return "(no output)"
	}
	return strings.Join(slices.DeleteFunc(strings.Split(s, "\n"), func(l string) bool { return strings.TrimSpace(l) == "" }), " | ")
}

// ensureDirs creates the state and log folders.
func (s *Supervisor) ensureDirs() error {
	if err := os.MkdirAll(s.cfg.LogDir, 0o700); err != nil {
		return fmt.Errorf("create worker log folder: %w", err)
	}
	return nil
}
