package sshpool_test

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/queen/sshpool"
	"github.com/rbee-fleet/rbee/shared/api"
)

// serversEnv makes the test binary serve SSH for the benchmark (see
// TestHelperSSHServers) instead of testing.
const serversEnv = "RBEE_SSHPOOL_BENCH_SERVERS"

// simulatedNodes is how many nodes BenchmarkPoolMemory holds.
const simulatedNodes = 100

// BenchmarkPoolMemory measures what one pooled connection costs the queen:
// heap bytes and goroutines per node with simulatedNodes nodes connected,
// each with the remote forward the queen asks every ssh-transport node
// for. The nodes are in-process x/crypto/ssh servers (loopback sshds are
// heavy) run in a child process, so that only the queen's side is
// measured.
//
//	go test -run '^$' -bench PoolMemory -benchtime 1x ./queen/sshpool/
func BenchmarkPoolMemory(b *testing.B) {
	addrs, hostKey := startServers(b, simulatedNodes)
	keyPath := writeClientKey(b)
	for range b.N {
		before := heapAndGoroutines()
		p := sshpool.New(sshpool.Config{})
		lns := make([]net.Listener, 0, len(addrs))
		for i, addr := range addrs {
			n := simulatedNode(i, addr, keyPath, hostKey)
			c, err := p.Get(b.Context(), n, nil)
			if err != nil {
				b.Fatal(err)
			}
			ln, err := c.Listen("unix", "/nonexistent/rbee/run/queen.sock")
			if err != nil {
				b.Fatal(err)
			}
			lns = append(lns, ln)
		}
		after := heapAndGoroutines()
		perNode := float64(after.heap-before.heap) / float64(len(addrs))
		b.ReportMetric(perNode, "heap-bytes/node")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(len(addrs)), "goroutines/node")
		for _, ln := range lns {
			ln.Close()
		}
		p.Close()
	}
}

type usage struct {
	heap       uint64
	goroutines int
}

// heapAndGoroutines is the live heap after a GC and the goroutine count.
func heapAndGoroutines() usage {
	time.Sleep(100 * time.Millisecond) // let started goroutines settle
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{heap: m.HeapAlloc, goroutines: runtime.NumGoroutine()}
}

func simulatedNode(i int, addr, keyPath, hostKey string) api.Node {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return api.Node{NodeName: fmt.Sprintf("sim-%03d", i), SSHHost: host, SSHPort: p, SSHUser: "rbee",
		SSHKeyPath: keyPath, HostKey: hostKey, InstallPath: "/nonexistent/rbee"}
}

// startServers starts a child process serving n SSH servers on loopback
// and returns their addresses and their (shared) host key.
func startServers(b *testing.B, n int) ([]string, string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperSSHServers$")
	cmd.Env = append(os.Environ(), serversEnv+"="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	var addrs []string
	hostKey := ""
	for sc.Scan() {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, "hostkey "); ok {
			hostKey = k
		} else if a, ok := strings.CutPrefix(line, "addr "); ok {
			addrs = append(addrs, a)
		} else if line == "ready" {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return addrs, hostKey
		}
	}
	b.Fatalf("the SSH server process ended early: %v", sc.Err())
	return nil, ""
}

// writeClientKey writes an ed25519 private key for the pool to use.
func writeClientKey(b *testing.B) string {
	b.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// TestHelperSSHServers is the child process of BenchmarkPoolMemory: it
// serves RBEE_SSHPOOL_BENCH_SERVERS SSH servers that accept any key, grant
// remote forwards and answer keepalives, until its stdin closes.
func TestHelperSSHServers(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(serversEnv))
	if n == 0 {
		t.Skip("the child process of BenchmarkPoolMemory")
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(signer)
	fmt.Println("hostkey " + provision.MarshalHostKey(signer.PublicKey()))
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("addr " + ln.Addr().String())
		go acceptSSH(ln, cfg)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func acceptSSH(ln net.Listener, cfg *ssh.ServerConfig) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go serveSSH(conn, cfg)
	}
}

// serveSSH grants every global request (remote forwards, keepalives) and
// refuses channels.
func serveSSH(conn net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go func() {
		for r := range reqs {
			_ = r.Reply(true, nil)
		}
	}()
	for ch := range chans {
		_ = ch.Reject(ssh.Prohibited, "not in this benchmark")
	}
}
