// Package fleet starts a test fleet of real OpenSSH hosts: the machines that
// rbee's tests and the demo provision over SSH.
//
// A fleet is N hosts, each a real /usr/sbin/sshd with its own host key,
// sshd_config, pid file, log and install directory, one client key that all
// hosts accept, and a git server the hosts can clone the project from.
//
// Two modes:
//
//   - Loopback (any user): every host is an sshd on 127.0.0.1:<free port>
//     running as the current user, who is also the login user. The hosts
//     share the user's home, so each gets its own install directory under the
//     fleet folder; tests pass that absolute path, never "~". StrictModes is
//     off in this mode only, because the fleet folder usually lives under a
//     world-writable /tmp, which StrictModes refuses for an authorized_keys
//     file outside the home directory.
//   - Netns (root): every host is its own network namespace with an address
//     on a bridge in a /24 picked at random inside 10.213.0.0/16 (checked
//     free under a lock), its own unix user and home directory (mode 700,
//     StrictModes yes) and its own sshd on port 22. Cut drops a host off the
//     bridge so that connections time out rather than being refused, Heal
//     brings it back, and Unreachable gives an address on the bridge that
//     swallows every packet.
//
// Choices worth knowing:
//
//   - The git server is git daemon (127.0.0.1:<free port> in loopback mode,
//     the bridge address in netns mode; one `git daemon --inetd` per
//     connection behind a listener with the system's backlog, as a real
//     server has, where git daemon's own has 5) serving one bare repository,
//     rbee.git, whose branch main is a snapshot of the source checkout's
//     working tree (tracked and untracked files, minus ignored ones), so the
//     hosts build exactly the code under test, committed or not. The
//     repository is packed, as a real server's is, so a clone does not
//     compress every object again. Tests may push more branches into
//     Fleet.GitRepoDir.
//   - Offline Go: hosts reach no module proxy. Each sshd sets, for its
//     sessions, PATH (with the Go toolchain), GOTOOLCHAIN=local, GOSUMDB=off,
//     GOFLAGS=-mod=mod and GOPROXY=file://… pointing at a copy of the
//     caller's module download cache (hard links when possible). In loopback
//     mode GOPROXY points at the caller's own download cache, and the hosts
//     use the caller's GOMODCACHE and GOCACHE, so builds on hosts are as warm
//     as the caller's. In netns mode the host users share one GOCACHE in the
//     fleet folder: they share a group made for the fleet, the cache folder is
//     setgid to it, and sshd runs with umask 002 so the group can write what
//     each member caches (Go's cache is safe across processes).
//   - Sessions get SHLVL=1, so that Debian's bash does not source the login
//     user's ~/.bashrc for every remote command (loopback hosts share the
//     developer's, which may run slow things like `pyenv init`).
//   - /run/sshd (sshd's privilege separation directory) is created when
//     missing and never removed: several fleets may run at once and each
//     sshd needs it for every connection.
//   - Every process is started by the fleet and stopped by pid (SIGTERM, a
//     bounded wait, SIGKILL), after checking that the pid still runs the
//     command line the fleet started, never by process name. The same holds
//     for the CLI (go run ./testenv up|down|status), which keeps the fleet's
//     state in a folder.
//   - Every fleet keeps its state, with its owner (the pid and start time
//     of the process that started it), in state.json in its folder. New
//     first reaps (ReapStale) the fleets whose owner died, so fleets of
//     killed or timed-out test processes do not pile up. A detached fleet
//     (Fleet.Detach; every fleet of `testenv up`) has no owner: no reaping
//     touches it, and it lives until Close (`testenv down`).
//   - Names are unique per fleet (a random id in every namespace, link, user
//     and group name), so fleets of parallel test packages and a developer's
//     own demo fleet do not collide, and Close removes exactly what Start
//     made.
package fleet
