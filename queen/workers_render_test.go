package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestRenderWorkerList(t *testing.T) {
	now := time.Unix(1760000000, 0)
	exit137 := 137
	idle := api.Worker{ID: "w-7f3a", Node: "gpu-1", ModelRef: "hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF", Backend: "cpu",
		State: api.WorkerIdle, SlotsTotal: 1, SlotsAvailable: 1, URL: "http://10.0.0.7:8081", StartedUnix: now.Unix() - 12}
	busy := api.Worker{ID: "w-9b21", Node: "gpu-1", ModelRef: "/models/llama-3-8b.Q4_K_M.gguf", Backend: "cuda", Device: 1,
		State: api.WorkerBusy, SlotsTotal: 4, URL: "http://10.0.0.7:8082", StartedUnix: now.Unix() - 200}
	loading := api.Worker{ID: "w-c0de", Node: "workstation", ModelRef: "hf:Qwen/Qwen2-7B-GGUF", Backend: "cuda",
		State: api.WorkerLoading, StartedUnix: now.Unix() - 7500}
	failed := api.Worker{ID: "w-dead", Node: "workstation", ModelRef: "hf:acme/crash", Backend: "cuda", State: api.WorkerFailed,
		ExitCode: &exit137, StartedUnix: now.Unix() - 4*86400 - 100}
	tests := []struct {
		name     string
		workers  []api.Worker
		filtered bool
		want     string
	}{
		{
			name: "none",
			want: "No workers. Spawn one with: queen workers spawn --node NODE --model MODEL\n",
		},
		{
			name:     "none match",
			filtered: true,
			want:     "No workers match the filters. List them all with: queen workers list\n",
		},
		{
			name:    "every state, in the queen's order",
			workers: []api.Worker{busy, idle, loading, failed},
			want: "" +
				"ID      NODE         MODEL                                      BACKEND:DEVICE  STATE              SLOTS  URL                   AGE\n" +
				"w-9b21  gpu-1        /models/llama-3-8b.Q4_K_M.gguf             cuda:1          busy               0/4    http://10.0.0.7:8082  3m\n" +
				"w-7f3a  gpu-1        hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF  cpu:0           idle               1/1    http://10.0.0.7:8081  12s\n" +
				"w-c0de  workstation  hf:Qwen/Qwen2-7B-GGUF                      cuda:0          loading            0/0    -                     2h\n" +
				"w-dead  workstation  hf:acme/crash                              cuda:0          failed (exit 137)  0/0    -                     4d\n",
		},
		{
			name: "text from the queen cannot rewrite the terminal or add cells",
			workers: []api.Worker{{ID: "w-1", Node: "gpu-1", ModelRef: "hf:x/\x1b[2Jy\tz\nw", Backend: "cpu",
				State: api.WorkerIdle, URL: "http://10.0.0.7:8081\r", StartedUnix: now.Unix() + 30}},
			want: "" +
				"ID   NODE   MODEL           BACKEND:DEVICE  STATE  SLOTS  URL                    AGE\n" +
				"w-1  gpu-1  hf:x/\ufffd[2Jy\ufffdz\ufffdw  cpu:0           idle   0/0    http://10.0.0.7:8081\ufffd  0s\n",
		},
		{
			name:    "unknown start",
			workers: []api.Worker{{ID: "w-1", Node: "gpu-1", ModelRef: "hf:x/y", Backend: "cpu", State: api.WorkerLoading}},
			want: "" +
				"ID   NODE   MODEL   BACKEND:DEVICE  STATE    SLOTS  URL  AGE\n" +
				"w-1  gpu-1  hf:x/y  cpu:0           loading  0/0    -    -\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			renderWorkerList(&b, api.WorkerList{Workers: tt.workers}, tt.filtered, now)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestRenderWorkerAge(t *testing.T) {
	tests := []struct {
		age  time.Duration
		want string
	}{
		{age: 0, want: "0s"},
		{age: 999 * time.Millisecond, want: "0s"},
		{age: 12 * time.Second, want: "12s"},
		{age: time.Minute - time.Millisecond, want: "59s"},
		{age: time.Minute, want: "1m"},
		{age: 3*time.Minute + 59*time.Second, want: "3m"},
		{age: time.Hour - time.Second, want: "59m"},
		{age: 2*time.Hour + 5*time.Minute, want: "2h"},
		{age: 24*time.Hour - time.Second, want: "23h"},
		{age: 24 * time.Hour, want: "1d"},
		{age: 400 * 24 * time.Hour, want: "400d"},
		{age: -30 * time.Second, want: "0s"},
	}
	for _, tt := range tests {
		if got := formatAge(tt.age); got != tt.want {
			t.Errorf("formatAge(%s) = %q, want %q", tt.age, got, tt.want)
		}
	}
}
