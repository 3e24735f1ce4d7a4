package provision_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// TestQuotingThroughRealSSHD passes hostile values as arguments through
// provision to a real OpenSSH sshd and its login shell, and checks they come
// back byte for byte and that nothing was executed.
func TestQuotingThroughRealSSHD(t *testing.T) {
	f := fleet.New(t, fleet.Options{Hosts: 1, Prefix: "quote"})
	h := f.Hosts[0]
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	emptyConfig := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(emptyConfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := provision.Dial(ctx, provision.Target{
		Host: h.Addr, Port: h.Port, User: h.User, KeyPath: f.ClientKeyPath, HostKey: h.HostKey, ProxyJump: "none",
		SSHConfigPath: emptyConfig,
	}, provision.DialOptions{})
	if err != nil {
		t.Fatalf("dial real sshd: %v", err)
	}
	defer c.Close()
	marker := filepath.Join(h.InstallDir, "X")
	values := []string{
		"plain", "with space", "it's", `double "quotes"`, "$(touch " + marker + ")", "`touch " + marker + "`",
		"a;touch " + marker, "line\nbreak", "*", "~", "$HOME", "ünïcødé ✓", "", "-n", "--", "\\", "a|b&c>d<e",
		"'; touch " + marker + "; echo '",
	}
	for _, v := range values {
		out, err := c.Run(ctx, provision.Command("printf", "%s\\0", v))
		if err != nil {
			t.Fatalf("run printf with %q: %v", v, err)
		}
		if want := append([]byte(v), 0); !bytes.Equal(out, want) {
			t.Errorf("value %q came back as %q", v, out)
		}
	}
	all, err := c.Run(ctx, provision.Command("printf", append([]string{"%s\\0"}, values...)...))
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Split(bytes.TrimSuffix(all, []byte{0}), []byte{0}); len(got) != len(values) {
		t.Errorf("all values at once: got %d values back, want %d", len(got), len(values))
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a hostile value ran a command: %s exists", marker)
	}
}
