package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// BenchmarkAddNodeCLI times `queen setup add-node` (a whole CLI process,
// SSH validation included) against a loopback sshd, and counts the SSH
// handshakes the queen made per add-node.
//
//	go test -run '^$' -bench AddNodeCLI ./queen/
func BenchmarkAddNodeCLI(b *testing.B) {
	f := fleet.New(b, fleet.Options{Hosts: 1, Prefix: "bench"})
	h := f.Hosts[0]
	d := startDaemon(b, filepath.Join(b.TempDir(), "data"))
	token := readToken(b, d.dataDir)
	before := handshakes(b, d, token)
	var took []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := runCLI(b, d, nil, e2eAddNodeArgs(f, h, fmt.Sprintf("bench-%d", i))...)
		if r.code != 0 {
			b.Fatalf("add-node: exit %d: %s", r.code, r.stderr)
		}
		took = append(took, r.elapsed)
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(handshakes(b, d, token)-before)/float64(len(took)), "handshakes/op")
}

// handshakes reads the queen's SSH handshake counter from /metrics.
func handshakes(b *testing.B, d *daemon, token string) int64 {
	b.Helper()
	req, _ := http.NewRequest("GET", d.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "rbee_queen_ssh_handshakes_total "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("no handshake counter in /metrics:\n%s", body)
	return 0
}
