package server_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// BenchmarkInstall times `install --all` on 8 netns hosts (root): cold by
// build (empty checkout, empty Go build cache), cold by upload, and the
// idempotent re-run, each with --parallel 8 and 1, plus a plain parallel
// shell loop over ssh running the same clone and build as the reference.
// It also reports SSH handshakes per node per install.
//
//	sudo go test -run '^$' -bench Install -benchtime 1x ./queen/server/
func BenchmarkInstall(b *testing.B) {
	f := fleet.New(b, fleet.Options{Mode: fleet.Netns, Hosts: 8, Prefix: "bench"})
	q := installQueen(b, f.Net.BridgeIP)
	addNodes(b, q, f)
	goCache := envValue(f.GoEnv, "GOCACHE")
	for _, parallel := range []int{8, 1} {
		b.Run(fmt.Sprintf("cold-build/parallel-%d", parallel), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				resetHosts(b, q, f, goCache)
				b.StartTimer()
				benchInstall(b, q, api.InstallRequest{All: true, Method: "build", Parallel: parallel})
			}
		})
		// After an install (untimed, by upload: it needs no cold build when
		// this runs alone), a re-run with nothing to do.
		b.Run(fmt.Sprintf("rerun/parallel-%d", parallel), func(b *testing.B) {
			b.StopTimer()
			benchInstall(b, q, api.InstallRequest{All: true, Method: "upload", Parallel: parallel})
			b.StartTimer()
			for range b.N {
				rep := benchInstall(b, q, api.InstallRequest{All: true, Method: "upload", Parallel: parallel})
				requireResults(b, rep, api.ResultUpToDate)
			}
		})
		b.Run(fmt.Sprintf("cold-upload/parallel-%d", parallel), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				resetHosts(b, q, f, goCache)
				b.StartTimer()
				benchInstall(b, q, api.InstallRequest{All: true, Method: "upload", Parallel: parallel})
			}
		})
	}
	b.Run("reference-shell-loop/parallel-8", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			resetHosts(b, q, f, goCache)
			b.StartTimer()
			shellLoop(b, f)
		}
	})
}

// benchInstall runs the install req and reports the SSH handshakes it
// made per node (0 when every node's pooled connection was up).
func benchInstall(b *testing.B, q *queen, req api.InstallRequest) api.InstallReport {
	b.Helper()
	before := handshakeCount(b, q)
	rep, _ := installNodes(b, q, req)
	for _, r := range rep.Results {
		if r.Result == api.ResultFailed {
			b.Fatalf("%s: %+v", r.Node, r.Error)
		}
	}
	b.ReportMetric(float64(handshakeCount(b, q)-before)/float64(len(rep.Results)), "handshakes/node")
	return rep
}

// resetHosts uninstalls everything (checkouts included) and empties the
// shared Go build cache, for a cold install.
func resetHosts(b *testing.B, q *queen, f *fleet.Fleet, goCache string) {
	b.Helper()
	for _, h := range f.Hosts {
		q.stream(b, "POST", "/v1/hives/"+h.Name+"/uninstall", api.UninstallRequest{})
	}
	entries, _ := os.ReadDir(goCache)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(goCache, e.Name()))
	}
}

// shellLoop runs the same clone and build on every host with plain ssh, in
// parallel: what a careful shell script would do.
func shellLoop(b *testing.B, f *fleet.Fleet) {
	b.Helper()
	known := filepath.Join(b.TempDir(), "known_hosts")
	var lines []string
	for _, h := range f.Hosts {
		lines = append(lines, h.Addr+" "+h.HostKey)
	}
	if err := os.WriteFile(known, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	var g errgroup.Group
	for _, h := range f.Hosts {
		g.Go(func() error {
			script := fmt.Sprintf("git clone -q --branch main %s %s && cd %s && go build -trimpath -o bin/hive-agent ./hive-agent",
				f.Git.URL, h.InstallDir, h.InstallDir)
			out, err := exec.Command("ssh", "-i", f.ClientKeyPath, "-o", "BatchMode=yes", "-o", "UserKnownHostsFile="+known,
				"-p", strconv.Itoa(h.Port), h.User+"@"+h.Addr, script).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v: %s", h.Name, err, out)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

var metricsMu sync.Mutex

// handshakeCount reads the queen's SSH handshake counter from /metrics.
func handshakeCount(b *testing.B, q *queen) int64 {
	b.Helper()
	metricsMu.Lock()
	defer metricsMu.Unlock()
	resp := q.do(b, "GET", "/metrics", nil, token, false)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("metrics: %s", resp.Status)
	}
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "rbee_queen_ssh_handshakes_total "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatalf("no handshake counter in /metrics")
	return 0
}
