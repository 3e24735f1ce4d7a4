package fleet

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
)

// gitAcceptArg, as the first argument of a program that imports this
// package (a test binary, the testenv command), makes it the fleet's git
// server instead: see serveGit. The fleet starts it so by re-running its
// own executable, detached, as it starts sshd.
const gitAcceptArg = "rbee-testenv-git-accept"

func init() {
	if len(os.Args) == 5 && os.Args[1] == gitAcceptArg {
		os.Exit(serveGit(os.Args[2], os.Args[3], os.Args[4]))
	}
}

// serveGit accepts git:// connections on addr and runs `git daemon
// --inetd` (the git-daemon program gitDaemon) for each, serving the
// repositories under base. git daemon's own listener has a backlog of 5:
// with dozens of hosts cloning at once the kernel dropped their
// connections (a retried SYN costs a second) or reset them. Go's listener
// takes the system's backlog (net.core.somaxconn), as a real git server's
// does.
func serveGit(addr, gitDaemon, base string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "git server:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "git server listening on %s, serving %s\n", addr, base)
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "git server:", err)
			return 1
		}
		go serveGitConn(c.(*net.TCPConn), gitDaemon, base)
	}
}

// serveGitConn hands one connection to `git daemon --inetd`, which logs
// to this process's stderr (the fleet's git log).
func serveGitConn(c *net.TCPConn, gitDaemon, base string) {
	defer c.Close()
	f, err := c.File()
	if err != nil {
		fmt.Fprintln(os.Stderr, "git server:", err)
		return
	}
	defer f.Close()
	cmd := exec.Command(gitDaemon, "--inetd", "--export-all", "--informative-errors", "--verbose",
		"--log-destination=stderr", "--base-path="+base, base)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, os.Stderr
	if host, port, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		cmd.Env = append(os.Environ(), "REMOTE_ADDR="+host, "REMOTE_PORT="+port)
	}
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "git daemon --inetd for %s: %v\n", c.RemoteAddr(), err)
	}
}

// gitServerArgv is the command line that starts the fleet's git server on
// host:port for the repositories under base.
func gitServerArgv(gitDaemon, base, host string, port int) ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to run the git server: %w", err)
	}
	return []string{self, gitAcceptArg, net.JoinHostPort(host, strconv.Itoa(port)), gitDaemon, base}, nil
}
