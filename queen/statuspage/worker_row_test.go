package statuspage

import (
	"bytes"
	"html/template"
	"testing"
)

// TestWorkerRowMatchesTemplate: the worker row writer writes what the
// "worker" template writes, byte for byte, for ordinary and hostile
// values, so every field is escaped as html/template escapes it.
func TestWorkerRowMatchesTemplate(t *testing.T) {
	tpl := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "assets/templates/*.html"))
	tests := []struct {
		name string
		row  workerRow
	}{
		{name: "idle cpu worker", row: workerRow{ID: "w-0123456789", Node: "gpu-1", Model: "hf:TheBloke/TinyLlama-GGUF",
			Device: "cpu", State: "idle", SlotsUsed: 1, SlotsTotal: 4, Started: 1_760_000_000}},
		{name: "failed with restarts", row: workerRow{ID: "w-1", Node: "n", Model: "m", Device: "cuda:1", State: "failed",
			Exit: "137", Restarts: 3, SlotsTotal: 1}},
		{name: "hostile values", row: workerRow{ID: `"><script>alert(1)</script>`, Node: "a'b&c+d",
			Model: "<img src=x onerror=alert(1)>", Device: "cuda:0\x00", State: `idle" onmouseover="x`,
			Exit: "<b>", Restarts: 1, Started: -1}},
		{name: "unicode", row: workerRow{ID: "w-ü", Node: "nöde", Model: "模型", Device: "cpu", State: "loading"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got bytes.Buffer
			if err := tpl.ExecuteTemplate(&want, "worker", tt.row); err != nil {
				t.Fatal(err)
			}
			writeWorkerRow(&got, tt.row)
			if got.String() != want.String() {
				t.Errorf("writer\n%s\ntemplate\n%s", got.String(), want.String())
			}
		})
	}
}

// TestNodeRowMatchesTemplate: the node row writer writes what the "node"
// template writes, byte for byte, in each of its branches and for hostile
// values.
func TestNodeRowMatchesTemplate(t *testing.T) {
	tpl := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "assets/templates/*.html"))
	hostile := `"><script>alert('x')</script>&+`
	tests := []struct {
		name string
		row  nodeRow
	}{
		{name: "never beat", row: nodeRow{Name: "gpu-1", Status: "installed", SSH: "rbee@10.0.0.7"}},
		{name: "online with GPUs", row: nodeRow{Name: "gpu-2", Status: "online", SSH: "10.0.0.8:2222", AgentURL: "unix:///home/rbee/run/hive-agent.sock",
			Transport: "ssh", Connected: true, Commit: "3f2a9c1d4e5b", CommitFull: "3f2a9c1d4e5b3f2a9c1d4e5b3f2a9c1d4e5b3f2a",
			Caps: []string{"cpu", "cuda:0"}, Devices: []Device{{Name: "cuda:0 NVIDIA A100", MemoryTotal: 80 << 30, MemoryFree: 12 << 30}},
			Workers: 16, LastBeat: 1_760_000_000}},
		{name: "caps only, drift, ssh down", row: nodeRow{Name: "n", Status: "offline", Transport: "http", ConnError: "dial: refused",
			Commit: "0123456789ab", Drift: true, Running: "89abcdef0123", Caps: []string{"cpu"}}},
		{name: "behind its branch", row: nodeRow{Name: "b", Status: "online", Commit: "0123456789ab", Behind: "89abcdef0123"}},
		{name: "hostile values", row: nodeRow{Name: hostile, Status: hostile, SSH: hostile, AgentURL: hostile, Transport: hostile,
			ConnError: hostile, Commit: hostile, CommitFull: hostile, Running: hostile, Drift: true, Behind: hostile, Caps: []string{hostile},
			Devices: []Device{{Name: hostile + "\x00", MemoryTotal: 1, MemoryFree: 2}}, Workers: -1, LastBeat: -5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got bytes.Buffer
			if err := tpl.ExecuteTemplate(&want, "node", tt.row); err != nil {
				t.Fatal(err)
			}
			writeNodeRow(&got, tt.row)
			if got.String() != want.String() {
				t.Errorf("writer\n%s\ntemplate\n%s", got.String(), want.String())
			}
		})
	}
}

func TestBehind(t *testing.T) {
	const installed, head = "0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		installed, head, want string
	}{
		{installed, head, "89abcdef0123"},
		{installed, installed, ""},
		{installed, installed[:12], ""}, // a prefix is the same commit
		{installed, "", ""},             // not checked yet
		{"", head, ""},                  // nothing installed
		{"dev", head, ""},               // not a commit
	}
	for _, tt := range tests {
		if got := behind(tt.installed, tt.head); got != tt.want {
			t.Errorf("behind(%q, %q) = %q, want %q", tt.installed, tt.head, got, tt.want)
		}
	}
}
