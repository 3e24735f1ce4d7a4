package api

import (
	"strings"
	"testing"
)

func TestValidateInstallPath(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{name: "absolute", value: "/opt/rbee"},
		{name: "home", value: "~"},
		{name: "under home", value: "~/rbee"},
		{name: "expanded home", value: "/home/vince/rbee"},
		{name: "space and quote", value: "/srv/o'brien/rbee fleet"},
		{name: "shell characters are data", value: "/srv/$(id)/`id`;x"},
		{name: "unicode", value: "/home/jürgen/rbee"},
		{name: "dot component", value: "/opt/./rbee"},
		{name: "dots in a name", value: "/opt/rbee..old"},
		{name: "empty", value: "", wantErr: true},
		{name: "relative", value: "rbee", wantErr: true},
		{name: "other user's home", value: "~root/rbee", wantErr: true},
		{name: "dollar home", value: "$HOME/rbee", wantErr: true},
		{name: "dot dot", value: "/opt/../etc", wantErr: true},
		{name: "trailing dot dot", value: "~/..", wantErr: true},
		{name: "newline", value: "/opt/rbee\n/etc", wantErr: true},
		{name: "carriage return", value: "/opt/rbee\r", wantErr: true},
		{name: "nul", value: "/opt/rbee\x00", wantErr: true},
		{name: "escape", value: "/opt/\x1b]0;x\x07", wantErr: true},
		{name: "line separator", value: "/opt/rbee\u2028x", wantErr: true},
		{name: "too long", value: "/" + strings.Repeat("p", MaxPathLen), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertField(t, validateInstallPath("install_path", tt.value), wantField("install_path", tt.wantErr))
		})
	}
}
