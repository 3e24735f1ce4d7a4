package api

import (
	"errors"
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

func TestCleanInstallPath(t *testing.T) {
	for in, want := range map[string]string{
		"/opt/rbee/":    "/opt/rbee",
		"/opt//rbee/./": "/opt/rbee",
		"/./etc":        "/etc",
		"//":            "/",
		"~/":            "~",
		"~//rbee/":      "~/rbee",
		"~/./":          "~",
		"~":             "~",
	} {
		if got := CleanInstallPath(in); got != want {
			t.Errorf("CleanInstallPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInstallPathSafety pins the static rules of an install path rbee may
// own: requests refuse the rest with ErrUnsafePath, naming the rule and
// suggesting ~/rbee.
func TestInstallPathSafety(t *testing.T) {
	tests := []struct {
		value string
		rule  string // "" for allowed
	}{
		{"/", ruleUnsafeRoot},
		{"//", ruleUnsafeRoot},
		{"/./", ruleUnsafeRoot},
		{"~", ruleUnsafeHome},
		{"~/", ruleUnsafeHome},
		{"~/.", ruleUnsafeHome},
		{"/etc", ruleUnsafeSystem},
		{"/etc/", ruleUnsafeSystem},
		{"/etc/rbee", ruleUnsafeUnder},
		{"/usr", ruleUnsafeSystem},
		{"/usr/", ruleUnsafeSystem},
		{"/usr/lib/rbee", ruleUnsafeUnder},
		{"/usr/local", ruleUnsafeUnder},
		{"/usr/local/bin", ruleUnsafeUnder},
		{"/usr/local/share/", ruleUnsafeUnder},
		{"/var", ruleUnsafeSystem},
		{"/var/lib", ruleUnsafeUnder},
		{"/var/log/rbee", ruleUnsafeUnder},
		{"/bin", ruleUnsafeSystem},
		{"/sbin/x", ruleUnsafeUnder},
		{"/lib", ruleUnsafeSystem},
		{"/lib64", ruleUnsafeSystem},
		{"/libx32/rbee", ruleUnsafeUnder},
		{"/boot/rbee", ruleUnsafeUnder},
		{"/dev/shm/rbee", ruleUnsafeUnder},
		{"/proc/self", ruleUnsafeUnder},
		{"/sys/x", ruleUnsafeUnder},
		{"/run/rbee", ruleUnsafeUnder},
		{"/root", ruleUnsafeSystem},
		{"/root/", ruleUnsafeSystem},
		{"/opt", ruleUnsafeTop},
		{"/opt/", ruleUnsafeTop},
		{"/opt/./", ruleUnsafeTop},
		{"//opt", ruleUnsafeTop},
		{"/home", ruleUnsafeTop},
		{"/srv", ruleUnsafeTop},
		{"/tmp", ruleUnsafeTop},
		{"/mnt", ruleUnsafeTop},
		{"/home/vince", ruleUnsafeUser},
		{"/home/vince/", ruleUnsafeUser},
		{"/home//vince/.", ruleUnsafeUser},
		{"/opt/rbee", ""},
		{"/opt/./rbee/", ""},
		{"/srv/rbee", ""},
		{"/usr/local/rbee", ""},
		{"/var/lib/rbee", ""},
		{"/var/opt/rbee", ""},
		{"/root/rbee", ""},
		{"/home/vince/rbee", ""},
		{"/library/rbee", ""},
		{"/tmp/fleet/rbee", ""},
		{"~/rbee", ""},
		{"~/rbee/", ""},
		{"/data/rbee", ""},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			for name, err := range map[string]error{
				"CheckInstallPathSafe": CheckInstallPathSafe(tt.value),
				"AddNodeRequest": AddNodeRequest{Name: "a", SSHHost: "h", GitRepoURL: "https://h/r",
					InstallPath: tt.value}.Validate(),
				"UpdateNodeRequest": UpdateNodeRequest{InstallPath: &tt.value}.Validate(),
			} {
				checkUnsafe(t, name, err, tt.rule)
			}
		})
	}
}

func checkUnsafe(t *testing.T, name string, err error, rule string) {
	t.Helper()
	if rule == "" {
		if err != nil {
			t.Errorf("%s: %v, want allowed", name, err)
		}
		return
	}
	fe, ok := AsFieldError(err)
	if !ok || !errors.Is(err, ErrUnsafePath) || !errors.Is(err, ErrInvalid) || fe.Field != "install_path" ||
		!strings.Contains(err.Error(), rule) {
		t.Errorf("%s: %v, want an unsafe install_path error naming %q", name, err, rule)
	}
}

func TestCheckInstallPathNotHome(t *testing.T) {
	tests := []struct {
		path, home string
		unsafe     bool
	}{
		{"/data/users/ann", "/data/users/ann", true},
		{"/data/users/ann/", "/data/users/ann", true},
		{"/data//users/./ann", "/data/users/ann/", true},
		{"/data/users/ann/rbee", "/data/users/ann", false},
		{"/data/users", "/data/users/ann", false},
		{"/data/users/ann", "", false},
	}
	for _, tt := range tests {
		err := CheckInstallPathNotHome(tt.path, tt.home)
		rule := ""
		if tt.unsafe {
			rule = ruleUnsafeHome
		}
		checkUnsafe(t, tt.path+" in "+tt.home, err, rule)
	}
}
