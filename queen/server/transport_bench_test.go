package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/sshpool"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// BenchmarkSSHPool measures, side by side on one netns fleet of 32 hosts
// (root), what the pooled SSH connections buy: a cold `install --method
// upload` of 8 hosts, the idempotent re-run of `install --all` on 8 and on
// 32 hosts with the pool warm (handshakes/node must be 0), and a call to an
// agent (GET /v1/health) through a channel of the pooled connection
// against direct HTTP to the same agent (p50, p99 and their ratios), with
// the connection kept between calls and with a new one per call.
//
//	sudo go test -run '^$' -bench SSHPool -benchtime 1x -timeout 30m ./queen/server/
func BenchmarkSSHPool(b *testing.B) {
	f := fleet.New(b, fleet.Options{Mode: fleet.Netns, Hosts: 32, Prefix: "bpool"})
	q := installQueen(b, f.Net.BridgeIP)
	addNodes(b, q, f)
	eight := names(f.Hosts[:8])
	b.Run("cold-upload/hosts-8", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			for _, name := range eight {
				q.stream(b, "POST", "/v1/hives/"+name+"/uninstall", api.UninstallRequest{})
			}
			b.StartTimer()
			benchInstall(b, q, api.InstallRequest{Nodes: eight, Method: "upload", Parallel: 8})
		}
	})
	for _, hosts := range []int{8, 32} {
		b.Run(fmt.Sprintf("rerun-warm/hosts-%d", hosts), func(b *testing.B) {
			req := api.InstallRequest{Nodes: names(f.Hosts[:hosts]), Method: "upload", Parallel: hosts}
			b.StopTimer()
			benchInstall(b, q, req) // installs what is missing, untimed
			b.StartTimer()
			for range b.N {
				requireResults(b, benchInstall(b, q, req), api.ResultUpToDate)
			}
		})
	}
	b.Run("agent-health", func(b *testing.B) { benchAgentHealth(b, q, f, f.Hosts[0]) })
}

// names are the hosts' names.
func names(hosts []*fleet.Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return out
}

// benchAgentHealth installs h's agent under the http transport (it then
// listens on the node's address) and times GET /v1/health on it directly
// and through a direct-tcpip channel of a pooled SSH connection to
// 127.0.0.1:<agent port> on the node, alternating, 2000 calls each: with
// the connection kept between calls (the queen reads every answer to its
// end, so its clients keep theirs), and with a new one per call (-new).
func benchAgentHealth(b *testing.B, q *queen, f *fleet.Fleet, h *fleet.Host) {
	direct := api.TransportHTTP
	q.stream(b, "PATCH", "/v1/hives/"+h.Name, api.UpdateNodeRequest{Transport: &direct})
	rep, _ := installNodes(b, q, api.InstallRequest{Nodes: []string{h.Name}, Method: "upload"})
	if r := rep.Results[0]; r.Result == api.ResultFailed { // installed, or up to date when the benchmark runs again
		b.Fatalf("install %s under http: %+v", h.Name, r.Error)
	}
	n := getNode(b, q, h.Name)
	pool := sshpool.New(sshpool.Config{})
	defer pool.Close()
	dial := pool.Dialer(n)
	loopback := net.JoinHostPort("127.0.0.1", strconv.Itoa(h.AgentPort))
	viaSSH := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dial(ctx, "tcp", loopback)
	}}}
	viaNet := &http.Client{Transport: &http.Transport{}}
	url := "http://" + net.JoinHostPort(h.Addr, strconv.Itoa(h.AgentPort)) + "/v1/health"
	for range b.N {
		compareGets(b, viaNet, viaSSH, url, true, "")
		compareGets(b, viaNet, viaSSH, url, false, "-new")
	}
}

// compareGets times 2000 GETs of url directly and over SSH, alternating,
// and reports their percentiles and ratios with suffix.
func compareGets(b *testing.B, viaNet, viaSSH *http.Client, url string, keep bool, suffix string) {
	var sshTimes, netTimes []time.Duration
	for range 2000 {
		netTimes = append(netTimes, timeGet(b, viaNet, url, keep))
		sshTimes = append(sshTimes, timeGet(b, viaSSH, url, keep))
	}
	reportPercentiles(b, "direct"+suffix, netTimes)
	reportPercentiles(b, "ssh"+suffix, sshTimes)
	b.ReportMetric(percentile(sshTimes, 50)/percentile(netTimes, 50), "ssh/direct-p50"+suffix)
	b.ReportMetric(percentile(sshTimes, 99)/percentile(netTimes, 99), "ssh/direct-p99"+suffix)
}

// timeGet times one GET that must answer 200. With keep it reads the
// answer to its end, so the client keeps the connection (over SSH, a
// channel) for the next call; else it closes the body unread, which closes
// the connection.
func timeGet(b *testing.B, c *http.Client, url string, keep bool) time.Duration {
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	if keep {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s", url, resp.Status)
	}
	return time.Since(start)
}

// reportPercentiles reports p50 and p99 of ds in microseconds.
func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	b.ReportMetric(percentile(ds, 50), name+"-p50-µs")
	b.ReportMetric(percentile(ds, 99), name+"-p99-µs")
}

// percentile is the p-th percentile of ds in microseconds.
func percentile(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100].Microseconds())
}
