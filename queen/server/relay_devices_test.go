package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rbee-fleet/rbee/hive-agent/relay"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// TestRelaySendsDevicesWhenTheyChange runs the agent's relay against a
// real queen: devices go with the first beat and then only when they
// changed (small moves of free memory do not count), the queen keeps the
// last ones between beats, and a restarted queen asks for them again.
func TestRelaySendsDevicesWhenTheyChange(t *testing.T) {
	reg := openRouteRegistry(t)
	a := addHive(t, reg, "gpu-a", api.StatusOnline)
	var handler atomic.Pointer[http.Handler]
	newQueen := func() *server.Server {
		s := server.New(server.Config{Registry: reg, Token: token, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		h := s.Handler()
		handler.Store(&h)
		return s
	}
	newQueen()
	var mu sync.Mutex
	var sentDevices []bool // per heartbeat: did its body carry devices
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		sentDevices = append(sentDevices, bytes.Contains(body, []byte(`"devices"`)))
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	gpu := api.GPU{Index: 0, Name: "NVIDIA A100", MemoryTotalByte: 80 << 30, MemoryFreeByte: 70 << 30}
	var devs atomic.Pointer[api.Devices]
	devs.Store(&api.Devices{CPU: api.CPU{Cores: 8, RAMBytes: 64 << 30, RAMFreeBytes: 40 << 30}, GPUs: []api.GPU{gpu}})
	rl, err := relay.New(relay.Config{QueenURL: ts.URL, NodeName: a.name, Token: a.token, Beat: beatOf(nil),
		Devices: func() api.Devices { return *devs.Load() }}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	beat := func(wantDevices bool) {
		t.Helper()
		if _, err := rl.Send(t.Context()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if got := sentDevices[len(sentDevices)-1]; got != wantDevices {
			t.Errorf("beat %d carried devices: %v, want %v", len(sentDevices), got, wantDevices)
		}
	}
	gpusAtQueen := func() int {
		t.Helper()
		n := getNodeAt(t, ts.URL, a.name)
		if n.Devices == nil {
			return -1
		}
		return len(n.Devices.GPUs)
	}

	beat(true) // the first
	beat(false)
	if got := gpusAtQueen(); got != 1 {
		t.Errorf("the queen has %d GPUs after an unchanged beat, want the 1 it kept", got)
	}
	d := *devs.Load()
	d.CPU.RAMFreeBytes -= 100 << 20 // noise
	devs.Store(&d)
	beat(false)
	d.GPUs = append([]api.GPU{gpu}, api.GPU{Index: 1, Name: "NVIDIA A100", MemoryTotalByte: 80 << 30, MemoryFreeByte: 80 << 30})
	devs.Store(&d)
	beat(true)
	if got := gpusAtQueen(); got != 2 {
		t.Errorf("the queen has %d GPUs after a GPU appeared, want 2", got)
	}

	newQueen() // a restart: it knows no devices
	beat(false)
	beat(true) // asked for
	if got := gpusAtQueen(); got != 2 {
		t.Errorf("the restarted queen has %d GPUs, want 2", got)
	}
}

// getNodeAt returns node from the queen at url.
func getNodeAt(t testing.TB, url, name string) api.Node {
	t.Helper()
	q := &queen{url: url}
	return getNode(t, q, name)
}
