// Package gobuild builds the project's binaries once per test binary, for
// tests that run them as real processes (the queen, the hive agent).
//
// Call Cleanup from TestMain to remove what was built:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		gobuild.Cleanup()
//		os.Exit(code)
//	}
package gobuild

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// VersionFlag returns the -ldflags value that stamps version into a binary.
func VersionFlag(version string) string {
	return "-X github.com/rbee-fleet/rbee/shared/version.Version=" + version
}

type build struct {
	once sync.Once
	dir  string
	err  error
}

var (
	mu     sync.Mutex
	builds = map[string]*build{}
)

// Binaries builds the packages (import paths, or paths relative to the
// test's folder) with ldflags into one temp folder and returns the folder;
// each binary is named after its package's folder. The same request is built
// once per test binary.
func Binaries(t testing.TB, ldflags string, pkgs ...string) string {
	t.Helper()
	key := ldflags + "\x00" + strings.Join(pkgs, "\x00")
	mu.Lock()
	b, ok := builds[key]
	if !ok {
		b = &build{}
		builds[key] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "rbee-test-bin-")
		if b.err != nil {
			return
		}
		args := append([]string{"build", "-ldflags", ldflags, "-o", b.dir + "/"}, pkgs...)
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dir
}

// Cleanup removes every folder Binaries made.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	for key, b := range builds {
		if b.dir != "" {
			os.RemoveAll(b.dir)
		}
		delete(builds, key)
	}
}
