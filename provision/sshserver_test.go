package provision

// An in-process SSH server on 127.0.0.1:0 (rung 2 of STYLE §7.22), for the
// faults a real sshd cannot easily produce: stalled handshakes, partitions,
// dropped connections. It runs exec requests with the local /bin/sh, serves
// SFTP on the local file system and forwards direct-tcpip, so it can also be
// a jump host.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testServer is an SSH server for one test.
type testServer struct {
	t       *testing.T
	ln      net.Listener
	config  *ssh.ServerConfig
	hostKey ssh.Signer // the first host key
	home    string

	keepalives chan struct{} // one value per keepalive request received
	execs      chan string   // one value per command started
	handshakes atomic.Int32  // completed handshakes

	mu    sync.Mutex
	conns []net.Conn
}

// startServer starts a server that accepts the given client keys and
// presents hostKeys (a new ed25519 key if none).
func startServer(t *testing.T, authorized []ssh.PublicKey, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	if len(hostKeys) == 0 {
		hostKeys = []ssh.Signer{newSigner(t)}
	}
	s := &testServer{t: t, hostKey: hostKeys[0], home: t.TempDir(),
		keepalives: make(chan struct{}, 1000), execs: make(chan string, 100)}
	s.config = &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		for _, a := range authorized {
			if string(a.Marshal()) == string(key.Marshal()) {
				return nil, nil
			}
		}
		return nil, errors.New("key not authorized")
	}}
	for _, k := range hostKeys {
		s.config.AddHostKey(k)
	}
	s.ln = listen(t)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

func (s *testServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// target returns a Target for this server that authenticates with keyPath
// and reads no ssh config.
func (s *testServer) target(keyPath string) Target {
	return Target{Host: "127.0.0.1", Port: s.port(), User: "tester", KeyPath: keyPath,
		ConnectTimeout: 5 * time.Second, SSHConfigPath: os.DevNull}
}

func (s *testServer) serve() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.track(nc)
		go s.serveConn(nc)
	}
}

func (s *testServer) track(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = append(s.conns, nc)
}

func (s *testServer) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func (s *testServer) serveConn(nc net.Conn) {
	conn, chans, reqs, err := ssh.NewServerConn(nc, s.config)
	if err != nil {
		return
	}
	defer conn.Close()
	s.handshakes.Add(1)
	go s.globalRequests(reqs)
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			go s.session(nch)
		case "direct-tcpip":
			go s.forward(nch)
		default:
			nch.Reject(ssh.UnknownChannelType, "unsupported channel type")
		}
	}
}

func (s *testServer) globalRequests(reqs <-chan *ssh.Request) {
	for req := range reqs {
		if req.Type == keepaliveRequest {
			select {
			case s.keepalives <- struct{}{}:
			default:
			}
		}
		req.Reply(false, nil) // as OpenSSH does for keepalives
	}
}

func (s *testServer) session(nch ssh.NewChannel) {
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	var proc *exec.Cmd
	done := make(chan struct{})
	for req := range reqs {
		switch req.Type {
		case "exec":
			var msg struct{ Command string }
			ssh.Unmarshal(req.Payload, &msg)
			replied := make(chan struct{})
			proc = s.start(ch, msg.Command, done, replied)
			req.Reply(proc != nil, nil)
			close(replied)
		case "subsystem":
			req.Reply(true, nil)
			srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.home))
			if err == nil {
				srv.Serve()
			}
			return
		case "signal":
			if proc != nil {
				syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)
			}
		default:
			req.Reply(false, nil)
		}
	}
	if proc != nil { // the client closed the channel: end the command, like a hang-up
		syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// start runs command with /bin/sh in its own process group and reports its
// exit on ch when it ends, but not before the exec request was answered
// (replied closed): a client must see the reply before the exit status.
func (s *testServer) start(ch ssh.Channel, command string, done chan<- struct{}, replied <-chan struct{}) *exec.Cmd {
	proc := exec.Command("/bin/sh", "-c", command)
	proc.Dir = s.home
	proc.Env = []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH")}
	proc.Stdout, proc.Stderr = ch, ch.Stderr()
	proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	proc.WaitDelay = 5 * time.Second
	if err := proc.Start(); err != nil {
		close(done)
		return nil
	}
	s.execs <- command
	go func() {
		defer close(done)
		proc.Wait()
		<-replied
		sendExit(ch, proc.ProcessState)
		ch.Close()
	}()
	return proc
}

func sendExit(ch ssh.Channel, state *os.ProcessState) {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig := "KILL"
		if ws.Signal() != syscall.SIGKILL {
			sig = strconv.Itoa(int(ws.Signal()))
		}
		ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{Signal: sig}))
		return
	}
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(state.ExitCode())}))
}

// forward serves direct-tcpip, the channel a jump host opens to the next host.
func (s *testServer) forward(nch ssh.NewChannel) {
	var msg struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &msg); err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	nc, err := net.Dial("tcp", net.JoinHostPort(msg.Host, strconv.Itoa(int(msg.Port))))
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	s.track(nc)
	ch, reqs, err := nch.Accept()
	if err != nil {
		nc.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() {
		io.Copy(ch, nc)
		ch.CloseWrite()
	}()
	io.Copy(nc, ch)
	nc.Close()
}

// listen returns a listener on a free loopback port, closed at cleanup.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// stalledListener accepts connections and never says a word, like a host
// whose sshd hangs before the banner. It returns the address.
func stalledListener(t *testing.T) string {
	t.Helper()
	ln := listen(t)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// proxy forwards TCP to a target and can simulate a partition (pause) or a
// dropped connection (cut).
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	gate  chan struct{} // closed while traffic flows
	drop  int           // how many new connections to close at once
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{ln: listen(t), target: target, gate: make(chan struct{})}
	close(p.gate)
	go p.serve()
	t.Cleanup(func() {
		p.resume()
		p.cut()
	})
	return p
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.dropped() {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// dropNext makes the proxy close the next n connections at once.
func (p *proxy) dropNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop = n
}

func (p *proxy) dropped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drop == 0 {
		return false
	}
	p.drop--
	return true
}

// pipe copies src to dst, holding every chunk while the proxy is paused.
func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		<-gate
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pause stops all traffic in both directions, like a network partition.
func (p *proxy) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

func (p *proxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// cut closes every proxied connection, like a crashed host.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// newSigner returns a fresh ed25519 key.
func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// newECDSASigner returns a fresh ecdsa-sha2-nistp256 key.
func newECDSASigner(t *testing.T) ssh.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// newKeyFile writes a fresh ed25519 private key in OpenSSH format, encrypted
// when passphrase is not empty, and returns its path and public key.
func newKeyFile(t *testing.T, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	priv := newPrivateKey(t)
	return writeKeyFile(t, priv, passphrase), publicKey(t, priv)
}

func newPrivateKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func writeKeyFile(t *testing.T, priv ed25519.PrivateKey, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test key")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test key", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func publicKey(t *testing.T, priv ed25519.PrivateKey) ssh.PublicKey {
	t.Helper()
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// startAgent serves an ssh-agent holding keys on a unix socket and returns
// the socket path.
func startAgent(t *testing.T, keys ...ed25519.PrivateKey) string {
	t.Helper()
	keyring := agent.NewKeyring()
	for _, k := range keys {
		if err := keyring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "agent") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(keyring, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// writeKnownHosts writes a known_hosts file listing key for addr.
func writeKnownHosts(t *testing.T, addr string, key ssh.PublicKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
