package api

import (
	"strings"
	"testing"
)

// Public keys made with ssh-keygen; the fingerprints are what
// `ssh-keygen -lf` printed for them.
const (
	ed25519Key   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINOho0V0BhxZQX7iKW9cM3XlryR0V4CDcxBUqJfdkRWi root@gpu-1"
	ed25519Print = "SHA256:8QZj87ViqQjm1tR3cTYyQpuINDikbj68S/AyiKW1b0Y"
	ecdsaKey     = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFiQCs/7n5UT//TL5H5GMDtR9tX2b9+cg6jzEngGAhIuUbB14Ii8Meh3xXlPFlhYK7iMorSqSDRsaehhrGxY15I="
	ecdsaPrint   = "SHA256:R7ZHHBN/VrFjaMn3TWQkldt6GFavoH5yP8mUKFLOI6U"
)

func TestHostKeyFingerprint(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		want    string
		wantErr bool
	}{
		{name: "ed25519 with comment", key: ed25519Key, want: ed25519Print},
		{name: "ed25519 without comment", key: strings.TrimSuffix(ed25519Key, " root@gpu-1"), want: ed25519Print},
		{name: "ecdsa", key: ecdsaKey, want: ecdsaPrint},
		{name: "empty", key: "", wantErr: true},
		{name: "type only", key: "ssh-ed25519", wantErr: true},
		{name: "type mismatch", key: "ssh-rsa " + strings.Fields(ed25519Key)[1], wantErr: true},
		{name: "bad base64", key: "ssh-ed25519 AAAA$(id)", wantErr: true},
		{name: "truncated blob", key: "ssh-ed25519 AAAAC3Nz", wantErr: true},
		{name: "newline in comment", key: ed25519Key + "\nssh-rsa AAAA", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HostKeyFingerprint(tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("HostKeyFingerprint() error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("HostKeyFingerprint() = %q, want %q", got, tt.want)
			}
			assertField(t, validateHostKey("host_key", tt.key), wantField("host_key", tt.wantErr && tt.key != ""))
		})
	}
}

func TestValidateFingerprint(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{name: "empty means trust on first use", value: ""},
		{name: "ed25519", value: ed25519Print},
		{name: "ecdsa", value: ecdsaPrint},
		{name: "lowercase prefix", value: "sha256:" + strings.TrimPrefix(ed25519Print, "SHA256:"), wantErr: true},
		{name: "md5", value: "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", wantErr: true},
		{name: "padded", value: ed25519Print + "=", wantErr: true},
		{name: "short", value: ed25519Print[:len(ed25519Print)-1], wantErr: true},
		{name: "non-canonical last char", value: ed25519Print[:len(ed25519Print)-1] + "Z", wantErr: true},
		{name: "url alphabet", value: strings.ReplaceAll(ed25519Print, "/", "_"), wantErr: true},
		{name: "space", value: "SHA256: " + strings.TrimPrefix(ed25519Print, "SHA256:")[1:], wantErr: true},
		{name: "newline", value: ed25519Print[:len(ed25519Print)-1] + "\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertField(t, validateFingerprint("host_key_fingerprint", tt.value), wantField("host_key_fingerprint", tt.wantErr))
		})
	}
}
