package main

import (
	"bytes"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestEventLine(t *testing.T) {
	tests := []struct {
		name string
		ev   api.Event
		want string
	}{
		{name: "whole operation", ev: api.Event{Level: api.LevelInfo, Message: "🔌 Testing SSH connection to 127.0.0.1:2222"},
			want: "[queen] 🔌 Testing SSH connection to 127.0.0.1:2222"},
		{name: "one node", ev: api.Event{Level: api.LevelWarn, Node: "gpu-1", Message: "⏳ Attempt 2/3 failed: connection reset by peer (retrying in 400ms)"},
			want: "[gpu-1] ⏳ Attempt 2/3 failed: connection reset by peer (retrying in 400ms)"},
		{name: "phase with its time", ev: api.Event{Level: api.LevelInfo, Node: "gpu-1", Message: "cloning https://git.example.org/rbee.git", ElapsedMS: 3240},
			want: "[gpu-1] cloning https://git.example.org/rbee.git (3.2s)"},
		{name: "short phase", ev: api.Event{Level: api.LevelInfo, Node: "gpu-1", Message: "probe", ElapsedMS: 850},
			want: "[gpu-1] probe (850ms)"},
		{name: "terminal escapes from a node", ev: api.Event{Level: api.LevelInfo, Node: "gpu-1", Message: "git \x1b[2Jversion\r\n[queen] fake\u202e"},
			want: "[gpu-1] git \ufffd[2Jversion\ufffd\ufffd[queen] fake\ufffd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventLine(tt.ev); got != tt.want {
				t.Errorf("eventLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEventPrinterStreams(t *testing.T) {
	var stdout, stderr bytes.Buffer
	p := &eventPrinter{stdout: &stdout, stderr: &stderr}
	fail := api.ErrorEvent(3, "gpu-1", api.ErrorDetail{Code: api.CodeSSHAuthFailed, Message: "ssh to gpu-1: key refused"})
	for _, ev := range []api.Event{
		{Level: api.LevelInfo, Node: "gpu-1", Message: "🔌 Testing SSH connection to 10.0.0.7:22"},
		{Level: api.LevelError, Node: "gpu-1", Message: "❌ key ~/.ssh/id_ed25519 refused"},
		fail,
	} {
		p.print(ev)
	}
	if want := "[gpu-1] 🔌 Testing SSH connection to 10.0.0.7:22\n"; stdout.String() != want {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
	if want := "[gpu-1] ❌ key ~/.ssh/id_ed25519 refused\n"; stderr.String() != want {
		t.Errorf("stderr = %q, want %q (the last event's error is main's to print)", stderr.String(), want)
	}
	if !p.sawDone {
		t.Error("sawDone = false after the last event")
	}
	var none *eventPrinter
	if none.handler() != nil {
		t.Error("a nil printer has a handler")
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{name: "bytes", got: formatBytes(512), want: "512 B"},
		{name: "KiB", got: formatBytes(1536), want: "1.5 KiB"},
		{name: "GiB", got: formatBytes(13207024435), want: "12.3 GiB"},
		{name: "TiB", got: formatBytes(3 << 40), want: "3.0 TiB"},
		{name: "never", got: formatUnix(0), want: "never"},
		{name: "UTC time", got: formatUnix(1728483735), want: "2024-10-09 14:22:15 UTC"},
		{name: "no user", got: sshAddress(api.Node{SSHHost: "ws.lan", SSHPort: 2222}), want: "ws.lan:2222"},
		{name: "user", got: sshAddress(api.Node{SSHHost: "10.0.0.7", SSHPort: 22, SSHUser: "vince"}), want: "vince@10.0.0.7:22"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
