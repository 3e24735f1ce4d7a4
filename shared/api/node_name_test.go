package api

import (
	"strings"
	"testing"
)

func TestValidateNodeName(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{name: "simple", value: "gpu-1"},
		{name: "dotted", value: "workstation.home.arpa"},
		{name: "single char", value: "a"},
		{name: "digits only", value: "42"},
		{name: "63 chars", value: strings.Repeat("a", 63)},
		{name: "64 chars", value: strings.Repeat("a", 64), wantErr: true},
		{name: "empty", value: "", wantErr: true},
		{name: "uppercase", value: "Bad_Name", wantErr: true},
		{name: "underscore", value: "gpu_1", wantErr: true},
		{name: "at sign", value: "work@station", wantErr: true},
		{name: "leading dash", value: "-gpu", wantErr: true},
		{name: "trailing dash", value: "gpu-", wantErr: true},
		{name: "leading dot", value: ".gpu", wantErr: true},
		{name: "trailing dot", value: "gpu.", wantErr: true},
		{name: "double dot", value: "a..b", wantErr: true},
		{name: "dash before dot", value: "a-.b", wantErr: true},
		{name: "dash after dot", value: "a.-b", wantErr: true},
		{name: "path traversal", value: "../etc", wantErr: true},
		{name: "slash", value: "a/b", wantErr: true},
		{name: "space", value: "gpu 1", wantErr: true},
		{name: "command substitution", value: "$(reboot)", wantErr: true},
		{name: "backtick", value: "`id`", wantErr: true},
		{name: "newline", value: "gpu\n1", wantErr: true},
		{name: "nul", value: "gpu\x00", wantErr: true},
		{name: "unicode letter", value: "gpü", wantErr: true},
		{name: "fullwidth digit", value: "gpu１", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := ""
			if tt.wantErr {
				want = "name"
			}
			assertField(t, ValidateNodeName(tt.value), want)
		})
	}
}
