package api

import (
	"strings"
	"testing"
)

func TestValidateSSHHost(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{name: "hostname", value: "gpu-1.lab.example.com"},
		{name: "ssh config alias", value: "gpu_box"},
		{name: "ipv4", value: "10.0.0.7"},
		{name: "ipv6 loopback", value: "::1"},
		{name: "ipv6", value: "fd00:1::7"},
		{name: "uppercase", value: "GPU-1.LAB"},
		{name: "255 chars", value: strings.Repeat("h", 255)},
		{name: "256 chars", value: strings.Repeat("h", 256), wantErr: true},
		{name: "empty", value: "", wantErr: true},
		{name: "ssh option", value: "-oProxyCommand=touch /tmp/pwned", wantErr: true},
		{name: "leading dash only", value: "-v", wantErr: true},
		{name: "space", value: "gpu 1", wantErr: true},
		{name: "user at host", value: "root@gpu-1", wantErr: true},
		{name: "host with port", value: "gpu-1:2222", wantErr: true},
		{name: "bracketed ipv6", value: "[::1]", wantErr: true},
		{name: "ipv6 zone", value: "fe80::1%eth0", wantErr: true},
		{name: "command substitution", value: "$(id)", wantErr: true},
		{name: "backtick", value: "`id`", wantErr: true},
		{name: "single quote", value: "gpu'1", wantErr: true},
		{name: "semicolon", value: "gpu;reboot", wantErr: true},
		{name: "newline", value: "gpu\nHost *", wantErr: true},
		{name: "tab", value: "gpu\t1", wantErr: true},
		{name: "unicode", value: "bücher.example", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertField(t, validateSSHHost("ssh_host", tt.value), wantField("ssh_host", tt.wantErr))
		})
	}
}

func TestValidatePort(t *testing.T) {
	tests := []struct {
		name             string
		port             int
		zeroMeansDefault bool
		wantErr          bool
	}{
		{name: "ssh", port: 22},
		{name: "agent", port: 7835},
		{name: "lowest", port: 1},
		{name: "highest", port: 65535},
		{name: "zero as default", port: 0, zeroMeansDefault: true},
		{name: "zero without default", port: 0, wantErr: true},
		{name: "negative", port: -22, zeroMeansDefault: true, wantErr: true},
		{name: "too high", port: 65536, zeroMeansDefault: true, wantErr: true},
		{name: "huge", port: 1 << 40, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertField(t, validatePort("ssh_port", tt.port, tt.zeroMeansDefault), wantField("ssh_port", tt.wantErr))
		})
	}
}

func TestValidateSSHUser(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{name: "empty means ssh config", value: ""},
		{name: "lowercase", value: "vince"},
		{name: "service account", value: "_rbee"},
		{name: "dotted and dashed", value: "first.last-2"},
		{name: "uppercase", value: "Administrator"},
		{name: "32 chars", value: "u" + strings.Repeat("x", 31)},
		{name: "33 chars", value: "u" + strings.Repeat("x", 32), wantErr: true},
		{name: "leading dash", value: "-oProxyCommand=id", wantErr: true},
		{name: "leading digit", value: "1user", wantErr: true},
		{name: "space", value: "a user", wantErr: true},
		{name: "at sign", value: "root@evil", wantErr: true},
		{name: "command substitution", value: "$(id)", wantErr: true},
		{name: "backtick", value: "u`id`", wantErr: true},
		{name: "quote", value: "o'brien", wantErr: true},
		{name: "newline", value: "root\n", wantErr: true},
		{name: "unicode", value: "jürgen", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertField(t, validateSSHUser("ssh_user", tt.value), wantField("ssh_user", tt.wantErr))
		})
	}
}

func TestValidateKeyPath(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{name: "empty means ssh-agent", value: ""},
		{name: "home key", value: "/home/vince/.ssh/id_ed25519"},
		{name: "space and quote", value: "/home/o'brien/My Keys/id_rsa"},
		{name: "dollar is just a byte here", value: "/keys/$(id)"},
		{name: "unicode", value: "/home/jürgen/.ssh/id_ed25519"},
		{name: "tilde not expanded", value: "~/.ssh/id_ed25519", wantErr: true},
		{name: "relative", value: ".ssh/id_ed25519", wantErr: true},
		{name: "newline", value: "/home/vince/.ssh/id\nrsa", wantErr: true},
		{name: "nul", value: "/home/vince/.ssh/id\x00", wantErr: true},
		{name: "escape", value: "/home/\x1b[2J", wantErr: true},
		{name: "bidi override", value: "/home/vince/\u202eid_rsa", wantErr: true},
		{name: "invalid utf-8", value: "/home/\xff", wantErr: true},
		{name: "too long", value: "/" + strings.Repeat("k", MaxPathLen), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertField(t, validateKeyPath("ssh_key_path", tt.value), wantField("ssh_key_path", tt.wantErr))
		})
	}
}

// wantField returns field when wantErr is set, else "" (no error expected).
func wantField(field string, wantErr bool) string {
	if wantErr {
		return field
	}
	return ""
}
