package api

import (
	"net/netip"
	"strconv"
	"strings"
)

// Limits of the SSH fields.
const (
	// MaxSSHHostLen is the longest ssh_host, the longest DNS name.
	MaxSSHHostLen = 255
	// MaxSSHUserLen is the longest ssh_user, the usual POSIX limit.
	MaxSSHUserLen = 32
	// MaxPathLen is the longest path field (PATH_MAX on Linux).
	MaxPathLen = 4096
)

const (
	ruleSSHHostDash  = "must not start with '-' (ssh would read it as an option)"
	ruleSSHHostChars = "may contain only ASCII letters, digits, '.', '-', '_' and ':' (hostname, IP address or ~/.ssh/config alias)"
	ruleSSHHostIPv6  = "contains ':' but is not an IPv6 address; give the port in ssh_port and leave out brackets and zones"
	rulePort         = "must be 1–65535"
	rulePortDefault  = "must be 1–65535, or 0 for the default"
	ruleSSHUser      = "must be empty (ssh config or current user) or up to 32 ASCII letters, digits, '_', '.' or '-', starting with a letter or '_'"
	ruleKeyPath      = "must be empty (use ssh-agent) or an absolute path; expand '~' on the client"
)

// validateSSHHost checks a hostname, an IPv4/IPv6 literal or an
// ~/.ssh/config alias.
func validateSSHHost(field, host string) error {
	switch {
	case host == "":
		return fieldErr(field, host, ruleRequired+": give a hostname, an IP address or a Host alias from ~/.ssh/config")
	case len(host) > MaxSSHHostLen:
		return fieldErr(field, host, tooLong(MaxSSHHostLen))
	case host[0] == '-':
		return fieldErr(field, host, ruleSSHHostDash)
	case !hostChars(host):
		return fieldErr(field, host, ruleSSHHostChars)
	case strings.Contains(host, ":") && !isIPv6(host):
		return fieldErr(field, host, ruleSSHHostIPv6)
	}
	return nil
}

// hostChars reports whether s holds only characters of a hostname, an alias
// or an IPv6 literal.
func hostChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isASCIIAlnum(c) && c != '.' && c != '-' && c != '_' && c != ':' {
			return false
		}
	}
	return true
}

// isIPv6 reports whether s is an IPv6 address without a zone.
func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}

// validatePort checks a TCP port; zeroMeansDefault allows 0 where Defaults
// will fill it in.
func validatePort(field string, port int, zeroMeansDefault bool) error {
	if zeroMeansDefault && port == 0 {
		return nil
	}
	if port < 1 || port > 65535 {
		rule := rulePort
		if zeroMeansDefault {
			rule = rulePortDefault
		}
		return fieldErr(field, strconv.Itoa(port), rule)
	}
	return nil
}

// validateSSHUser checks a login name; empty leaves the choice to ssh.
func validateSSHUser(field, user string) error {
	if user == "" {
		return nil
	}
	if len(user) > MaxSSHUserLen || !(isASCIILetter(user[0]) || user[0] == '_') {
		return fieldErr(field, user, ruleSSHUser)
	}
	for i := 1; i < len(user); i++ {
		if c := user[i]; !isASCIIAlnum(c) && c != '_' && c != '.' && c != '-' {
			return fieldErr(field, user, ruleSSHUser)
		}
	}
	return nil
}

// validateKeyPath checks the path of a private key on the queen's machine.
// The key itself is never sent or stored.
func validateKeyPath(field, path string) error {
	switch {
	case path == "":
		return nil
	case hasControl(path):
		return fieldErr(field, path, ruleNoControl)
	case len(path) > MaxPathLen:
		return fieldErr(field, path, tooLong(MaxPathLen))
	case path[0] != '/':
		return fieldErr(field, path, ruleKeyPath)
	}
	return nil
}
