package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestRenderHiveStatus(t *testing.T) {
	now := time.Date(2025, 10, 9, 8, 53, 24, 0, time.UTC)
	tests := []struct {
		name string
		st   api.HiveStatus
		want string
	}{
		{
			name: "online, installed commit in full",
			st: api.HiveStatus{Node: "gpu-1", Status: api.StatusOnline, AgentURL: "http://10.0.0.7:7835",
				AgentVersion: "3f2a9c1d4e5b6a7980112233445566778899aabb", InstalledCommit: "3f2a9c1d4e5b6a7980112233445566778899aabb",
				AgentPID: 4242, LastHeartbeatUnix: now.Unix() - 4, Health: api.HealthHealthy, Healthy: true,
				LastInstall: api.InstallRecord{Result: api.ResultInstalled, FinishedUnix: now.Unix() - 192}},
			want: "Hive gpu-1:\n" +
				"  Status:            online\n" +
				"  Agent URL:         http://10.0.0.7:7835\n" +
				"  Agent version:     3f2a9c1d4e5b\n" +
				"  Installed commit:  3f2a9c1d4e5b\n" +
				"  Agent PID:         4242\n" +
				"  Last heartbeat:    2025-10-09 08:53:20 UTC (4s ago)\n" +
				"  Last install:      installed 3m12s ago\n" +
				"  Health:            ✅ healthy\n",
		},
		{
			name: "failed install while the old agent beats",
			st: api.HiveStatus{Node: "gpu-1", Status: api.StatusOnline, AgentURL: "http://10.0.0.7:7835", AgentVersion: "3f2a9c1d4e5b",
				InstalledCommit: "3f2a9c1d4e5b", AgentPID: 4242, LastHeartbeatUnix: now.Unix() - 1, Health: api.HealthHealthy, Healthy: true,
				LastInstall: api.InstallRecord{Result: api.ResultFailed, Phase: "get binary",
					Error: "get binary: build:\n./broken.go:3:9: undefined: this", Hint: "fix the cause\x1b[2J", FinishedUnix: now.Unix() - 180}},
			want: "Hive gpu-1:\n" +
				"  Status:            online\n" +
				"  Agent URL:         http://10.0.0.7:7835\n" +
				"  Agent version:     3f2a9c1d4e5b\n" +
				"  Installed commit:  3f2a9c1d4e5b\n" +
				"  Agent PID:         4242\n" +
				"  Last heartbeat:    2025-10-09 08:53:23 UTC (1s ago)\n" +
				"  Last install:      failed in \"get binary\" 3m00s ago\n" +
				"  Install error:     get binary: build:\n" +
				"  Install hint:      fix the cause\ufffd[2J\n" +
				"  Health:            ✅ healthy\n",
		},
		{
			name: "never heard of",
			st: api.HiveStatus{Node: "gpu-2", Status: api.StatusInstalled, Health: api.HealthUnreachable,
				HealthError: "no agent URL yet\x1b[2J"},
			want: "Hive gpu-2:\n" +
				"  Status:            installed\n" +
				"  Agent URL:         unknown\n" +
				"  Agent version:     unknown\n" +
				"  Installed commit:  unknown\n" +
				"  Agent PID:         unknown\n" +
				"  Last heartbeat:    none since the queen started\n" +
				"  Last install:      none recorded\n" +
				"  Health:            ❌ unreachable: no agent URL yet\ufffd[2J\n",
		},
		{
			name: "from a queen without verdicts",
			st:   api.HiveStatus{Node: "gpu-3", Status: api.StatusOnline, HealthError: "500 Internal Server Error"},
			want: "Hive gpu-3:\n" +
				"  Status:            online\n" +
				"  Agent URL:         unknown\n" +
				"  Agent version:     unknown\n" +
				"  Installed commit:  unknown\n" +
				"  Agent PID:         unknown\n" +
				"  Last heartbeat:    none since the queen started\n" +
				"  Last install:      none recorded\n" +
				"  Health:            ❌ 500 Internal Server Error\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			renderHiveStatus(&b, tt.st, now)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestRenderInstallReportEdges(t *testing.T) {
	tests := []struct {
		name string
		r    api.InstallReport
		want string
	}{
		{name: "no nodes", want: "No nodes to install. Add one with: queen setup add-node --name NAME --ssh-host HOST --git-repo URL --install-path PATH\n"},
		{
			name: "failure without details, and text from a node",
			r: api.InstallReport{Results: []api.InstallResult{
				{Node: "gpu-1", Result: api.ResultFailed, Commit: "3f2a\t9c1d", DurationMS: 40},
			}},
			want: "\nNODE   RESULT  COMMIT     METHOD  TIME\n" +
				"gpu-1  failed  3f2a\ufffd9c1d  -       40ms\n" +
				"\n❌ gpu-1 failed at an unknown phase: no error message\n" +
				"\n0 installed, 0 up to date, 1 failed\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			renderInstallReport(&b, tt.r)
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

func TestFormatAgo(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{d: -3 * time.Second, want: "just now"},
		{d: 400 * time.Millisecond, want: "just now"},
		{d: 4 * time.Second, want: "4s ago"},
		{d: 3*time.Minute + 12*time.Second, want: "3m12s ago"},
		{d: 2*time.Hour + 5*time.Minute + 9*time.Second, want: "2h05m ago"},
		{d: 76 * time.Hour, want: "3d04h ago"},
	}
	for _, tt := range tests {
		if got := formatAgo(tt.d); got != tt.want {
			t.Errorf("formatAgo(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
