package provision

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"testing"
)

const testSSHConfig = `
Host gpu-3
  HostName 10.0.0.7
  Port 2222
  User ops
  IdentityFile ~/.ssh/missing_key
  IdentityFile ~/.ssh/fleet_ed25519

Host bastion
  HostName bastion.example.com
  Port 2200
  User jump
  IdentityFile %d/.ssh/bastion_key

Host inner
  HostName 10.1.0.5
  User hop2

Host behind
  HostName 10.2.0.9
  ProxyJump bastion,admin@inner:2022

Host legacy
  ProxyCommand nc %h %p

Host badport
  Port ssh

Host *.lab
  HostName %h.internal
  User labuser
`

func TestResolve(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	cfgPath := writeFile(t, filepath.Join(home, ".ssh", "config"), testSSHConfig)
	fleetKey := writeFile(t, filepath.Join(home, ".ssh", "fleet_ed25519"), "key")
	bastionKey := writeFile(t, filepath.Join(home, ".ssh", "bastion_key"), "key")
	me := currentUser(t)
	bastion := Endpoint{Alias: "bastion", HostName: "bastion.example.com", Port: 2200, User: "jump", KeyPath: bastionKey}

	tests := []struct {
		name   string
		target Target
		want   Route
	}{
		{
			name:   "alias takes HostName, Port, User and the first existing IdentityFile",
			target: Target{Host: "gpu-3"},
			want:   Route{Dest: Endpoint{Alias: "gpu-3", HostName: "10.0.0.7", Port: 2222, User: "ops", KeyPath: fleetKey}},
		},
		{
			name:   "explicit fields win over the config",
			target: Target{Host: "gpu-3", Port: 22, User: "root", KeyPath: "~/keys/id"},
			want:   Route{Dest: Endpoint{Alias: "gpu-3", HostName: "10.0.0.7", Port: 22, User: "root", KeyPath: filepath.Join(home, "keys/id")}},
		},
		{
			name:   "unknown host gets the defaults",
			target: Target{Host: "10.9.9.9"},
			want:   Route{Dest: Endpoint{Alias: "10.9.9.9", HostName: "10.9.9.9", Port: 22, User: me}},
		},
		{
			name:   "pattern with %h in HostName",
			target: Target{Host: "node1.lab"},
			want:   Route{Dest: Endpoint{Alias: "node1.lab", HostName: "node1.lab.internal", Port: 22, User: "labuser"}},
		},
		{
			name:   "ProxyJump with two hops, each resolved, explicit user and port win",
			target: Target{Host: "behind", User: "root"},
			want: Route{
				Jumps: []Endpoint{bastion, {Alias: "inner", HostName: "10.1.0.5", Port: 2022, User: "admin"}},
				Dest:  Endpoint{Alias: "behind", HostName: "10.2.0.9", Port: 22, User: "root"},
			},
		},
		{
			name:   "explicit ProxyJump none wins over the config",
			target: Target{Host: "behind", ProxyJump: "none"},
			want:   Route{Dest: Endpoint{Alias: "behind", HostName: "10.2.0.9", Port: 22, User: me}},
		},
		{
			name:   "explicit ProxyJump on a host without one",
			target: Target{Host: "gpu-3", ProxyJump: "bastion"},
			want: Route{
				Jumps: []Endpoint{bastion},
				Dest:  Endpoint{Alias: "gpu-3", HostName: "10.0.0.7", Port: 2222, User: "ops", KeyPath: fleetKey},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.target.SSHConfigPath = cfgPath
			got, err := Resolve(tt.target)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve(%+v)\n got  %+v\n want %+v", tt.target, got, tt.want)
			}
		})
	}
}

func TestResolveDefaultConfigPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)

	got, err := Resolve(Target{Host: "gpu-3"})
	if err != nil {
		t.Fatalf("Resolve without ~/.ssh/config: %v", err)
	}
	if got.Dest.HostName != "gpu-3" || got.Dest.Port != 22 {
		t.Errorf("without ~/.ssh/config: got %+v, want gpu-3:22", got.Dest)
	}

	writeFile(t, filepath.Join(home, ".ssh", "config"), testSSHConfig)
	got, err = Resolve(Target{Host: "gpu-3"})
	if err != nil {
		t.Fatalf("Resolve with ~/.ssh/config: %v", err)
	}
	if got.Dest.HostName != "10.0.0.7" {
		t.Errorf("with ~/.ssh/config: HostName = %q, want 10.0.0.7", got.Dest.HostName)
	}
}

func TestResolveErrors(t *testing.T) {
	cfgPath := writeFile(t, filepath.Join(t.TempDir(), "config"), testSSHConfig)
	tests := []struct {
		name   string
		target Target
	}{
		{"no host", Target{SSHConfigPath: cfgPath}},
		{"port out of range", Target{Host: "h", Port: 70000, SSHConfigPath: cfgPath}},
		{"ProxyCommand is refused", Target{Host: "legacy", SSHConfigPath: cfgPath}},
		{"port in config not a number", Target{Host: "badport", SSHConfigPath: cfgPath}},
		{"explicit config missing", Target{Host: "h", SSHConfigPath: filepath.Join(t.TempDir(), "nope")}},
		{"bad jump port", Target{Host: "h", ProxyJump: "bastion:http", SSHConfigPath: cfgPath}},
		{"empty jump", Target{Host: "h", ProxyJump: "bastion,", SSHConfigPath: cfgPath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(tt.target)
			if !errors.Is(err, ErrInvalidTarget) {
				t.Errorf("Resolve(%+v) = %v, want ErrInvalidTarget", tt.target, err)
			}
		})
	}
}

func TestParseHop(t *testing.T) {
	tests := []struct {
		hop      string
		wantUser string
		wantHost string
		wantPort int
	}{
		{"bastion", "", "bastion", 0},
		{"jump@bastion", "jump", "bastion", 0},
		{"jump@bastion:2200", "jump", "bastion", 2200},
		{"bastion:2200", "", "bastion", 2200},
		{"[2001:db8::1]:2200", "", "2001:db8::1", 2200},
		{"2001:db8::1", "", "2001:db8::1", 0},
		{"ssh://jump@bastion:2200", "jump", "bastion", 2200},
		{"me@corp@bastion", "me@corp", "bastion", 0},
	}
	for _, tt := range tests {
		t.Run(tt.hop, func(t *testing.T) {
			user, host, port, err := parseHop(tt.hop)
			if err != nil {
				t.Fatalf("parseHop(%q): %v", tt.hop, err)
			}
			if user != tt.wantUser || host != tt.wantHost || port != tt.wantPort {
				t.Errorf("parseHop(%q) = %q, %q, %d; want %q, %q, %d", tt.hop, user, host, port, tt.wantUser, tt.wantHost, tt.wantPort)
			}
		})
	}
}

func TestExpandTokens(t *testing.T) {
	tokens := map[byte]string{'h': "gpu-3", 'd': "/home/me"}
	tests := []struct{ in, want string }{
		{"%d/.ssh/id_%h", "/home/me/.ssh/id_gpu-3"},
		{"100%%", "100%"},
		{"%x stays", "%x stays"},
		{"trailing %", "trailing %"},
		{"no tokens", "no tokens"},
	}
	for _, tt := range tests {
		if got := expandTokens(tt.in, tokens); got != tt.want {
			t.Errorf("expandTokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}
