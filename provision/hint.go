package provision

import (
	"errors"
	"fmt"
	"strconv"
)

// Hint returns the next step for the user after err, in one or two
// sentences, or "" when there is nothing better to say than the error. The
// caller may append its own commands, such as the one that re-pins a host
// key.
func Hint(err error) string {
	if e, ok := errors.AsType[*HostKeyMismatchError](err); ok {
		return hostKeyHint(e)
	}
	if e, ok := errors.AsType[*AuthError](err); ok {
		return authHint(e)
	}
	if errors.Is(err, ErrNoCredentials) {
		return "give a key file, or start ssh-agent (`eval $(ssh-agent)`) and add a key with `ssh-add KEY`; " +
			"check with `ssh-add -l`"
	}
	if e, ok := errors.AsType[*DialError](err); ok {
		return dialHint(e)
	}
	if errors.Is(err, ErrConnectionLost) {
		return "the connection dropped while working; check that the node is up and reachable, then run the command again"
	}
	if errors.Is(err, ErrInvalidTarget) {
		return "fix the host, port, key or ~/.ssh/config entry named above; `ssh -G HOST` shows how ssh resolves it"
	}
	return ""
}

func hostKeyHint(e *HostKeyMismatchError) string {
	return fmt.Sprintf("if the node was reinstalled or its host keys regenerated, check on its console that "+
		"`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` (or the key of the same type) prints %s, then re-pin it; "+
		"otherwise do not connect: the connection may be intercepted", e.Got)
}

func authHint(e *AuthError) string {
	try := sshCommand(e.Dest, e.KeyPath)
	if e.KeyPath == "" {
		return fmt.Sprintf("list the keys ssh-agent offers with `ssh-add -l` and add the right one with `ssh-add KEY`; "+
			"its public key must be in ~%s/.ssh/authorized_keys on the node; try `%s`", e.Dest.User, try)
	}
	return fmt.Sprintf("check the key with `%s`; its public key (%s.pub) must be in ~%s/.ssh/authorized_keys "+
		"on the node, and the key file must be private (`chmod 600 %s`); to use ssh-agent instead, omit the key "+
		"and check what the agent holds with `ssh-add -l`", try, e.KeyPath, e.Dest.User, Quote(e.KeyPath))
}

func dialHint(e *DialError) string {
	try := sshCommand(e.Dest, "")
	switch {
	case errors.Is(e, ErrRefused):
		return fmt.Sprintf("nothing accepts connections on %s: check that sshd runs on the node "+
			"(`systemctl status ssh`) and that the port is right", e.Dest.Addr())
	case errors.Is(e, ErrTimeout):
		return fmt.Sprintf("%s did not answer in time: check that the node is up, the address and port are right "+
			"and no firewall drops SSH; `%s` shows where it stops", e.Dest.Addr(), try)
	case errors.Is(e, ErrUnknownHost):
		return fmt.Sprintf("%q does not resolve: check the name, or its HostName in ~/.ssh/config", e.Dest.HostName)
	case errors.Is(e, ErrNetwork):
		return fmt.Sprintf("the network path to %s failed; it may be transient: retry, and `%s` shows where it stops",
			e.Dest.Addr(), try)
	}
	return fmt.Sprintf("`%s` shows where the connection stops", try)
}

// sshCommand returns the OpenSSH command that tries the same connection.
func sshCommand(ep Endpoint, keyPath string) string {
	args := []string{"-v"}
	if keyPath != "" {
		args = []string{"-i", keyPath}
	}
	args = append(args, "-p", strconv.Itoa(ep.Port), ep.User+"@"+ep.HostName, "true")
	return Command("ssh", args...)
}
