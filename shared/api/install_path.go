package api

import (
	"errors"
	"path"
	"slices"
	"strings"
)

const (
	ruleInstallPath   = "must be absolute ('/opt/rbee') or start with '~/' ('~/rbee'), resolved on the hive"
	ruleInstallDotDot = "must not contain a '..' component"
)

// Rules of an unsafe install path: install, and later uninstall, own the
// install path, so it must be a directory of rbee's own.
const (
	ruleUnsafeRoot   = "is the root directory"
	ruleUnsafeHome   = "is the SSH user's home directory itself"
	ruleUnsafeSystem = "is a system directory"
	ruleUnsafeUnder  = "is inside a system directory"
	ruleUnsafeTop    = "is a top-level directory shared by other software"
	ruleUnsafeUser   = "is a user's home directory"
)

// InstallPathHint is the next step after an unsafe install path.
const InstallPathHint = "give the agent a directory of its own, e.g. --install-path '~/rbee' or /opt/rbee"

// ErrUnsafePath is wrapped, next to [ErrInvalid], by the error of an
// install path that rbee must not own: the root, the SSH user's home, a
// system directory. A server answers it with [CodeUnsafePath].
var ErrUnsafePath = errors.New("unsafe install path")

// unsafePathError is a [*FieldError] that also wraps [ErrUnsafePath].
type unsafePathError struct{ *FieldError }

// Unwrap returns the field error and [ErrUnsafePath].
func (e unsafePathError) Unwrap() []error { return []error{e.FieldError, ErrUnsafePath} }

// unsafePathErr builds the error of an unsafe install path.
func unsafePathErr(field, value, rule string) error {
	return unsafePathError{&FieldError{Field: field, Value: value, Rule: rule}}
}

// validateInstallPath checks where the agent is installed on the hive. It
// is the syntax only; see [validateNewInstallPath] for requests.
func validateInstallPath(field, p string) error {
	switch {
	case p == "":
		return fieldErr(field, p, ruleRequired)
	case hasControl(p):
		return fieldErr(field, p, ruleNoControl)
	case len(p) > MaxPathLen:
		return fieldErr(field, p, tooLong(MaxPathLen))
	case p != "~" && !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "~/"):
		return fieldErr(field, p, ruleInstallPath)
	}
	for part := range strings.SplitSeq(p, "/") {
		if part == ".." {
			return fieldErr(field, p, ruleInstallDotDot)
		}
	}
	return nil
}

// validateNewInstallPath checks an install path a request asks for: the
// syntax, then the static safety rules of [CheckInstallPathSafe]. Rows
// already stored are read with the syntax check only.
func validateNewInstallPath(field, p string) error {
	if err := validateInstallPath(field, p); err != nil {
		return err
	}
	return checkInstallPathSafe(field, p)
}

// CleanInstallPath normalises an install path: a trailing slash, "/./" and
// "//" go ("/opt//rbee/./" is "/opt/rbee"; "~/" is "~").
func CleanInstallPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "~"); ok && (rest == "" || rest[0] == '/') {
		if c := path.Clean("/" + rest); c != "/" {
			return "~" + c
		}
		return "~"
	}
	return path.Clean(p)
}

// CheckInstallPathSafe refuses an install path rbee must not own, after
// [CleanInstallPath]; the error wraps [ErrUnsafePath] and [ErrInvalid]
// and names the rule:
//
//   - "/" and "~" (the SSH user's home itself);
//   - the system directories /bin /boot /dev /etc /lib* /proc /root /run
//     /sbin /sys /usr /var and everything inside /bin /boot /dev /etc /lib*
//     /proc /run /sbin /sys;
//   - inside /usr only /usr/local/<x> is allowed, except the standard
//     /usr/local/{bin,etc,games,include,lib,lib64,libexec,man,sbin,share,src};
//   - inside /var only /var/lib/<x> and /var/opt/<x> are allowed;
//   - the top level of /home /media /mnt /opt /srv /tmp (/opt/rbee is fine)
//     and a user's home /home/<user> itself (/home/<user>/rbee is fine).
//
// Inside /root, as inside any home, a subdirectory is allowed: '~/rbee' of
// root is /root/rbee. That an absolute path is not the SSH user's home is
// checked on the node (see [CheckInstallPathNotHome]).
func CheckInstallPathSafe(p string) error {
	return checkInstallPathSafe("install_path", p)
}

func checkInstallPathSafe(field, p string) error {
	if rule := unsafeRule(CleanInstallPath(p)); rule != "" {
		return unsafePathErr(field, p, rule)
	}
	return nil
}

// CheckInstallPathNotHome refuses the install path p when it is home, the
// SSH user's home directory as resolved on the node; both are cleaned
// first. The error wraps [ErrUnsafePath] and [ErrInvalid].
func CheckInstallPathNotHome(p, home string) error {
	if home != "" && CleanInstallPath(p) == CleanInstallPath(home) {
		return unsafePathErr("install_path", p, ruleUnsafeHome+" ("+home+" on the node)")
	}
	return nil
}

// systemTrees are the directories that are refused with everything inside.
var systemTrees = []string{"bin", "boot", "dev", "etc", "proc", "run", "sbin", "sys"}

// sharedTops are top-level directories refused themselves, open inside.
var sharedTops = []string{"home", "media", "mnt", "opt", "srv", "tmp"}

// usrLocalStandard are the directories of /usr/local that belong to the
// system's local software.
var usrLocalStandard = []string{"bin", "etc", "games", "include", "lib", "lib64", "libexec", "man", "sbin", "share", "src"}

// unsafeRule returns the rule a cleaned install path breaks, or "".
func unsafeRule(p string) string {
	if p == "/" {
		return ruleUnsafeRoot
	}
	if p == "~" {
		return ruleUnsafeHome
	}
	if strings.HasPrefix(p, "~") {
		return ""
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	top := parts[0]
	switch {
	case isSystemTree(top):
		if len(parts) == 1 {
			return ruleUnsafeSystem
		}
		return ruleUnsafeUnder
	case top == "root" && len(parts) == 1:
		return ruleUnsafeSystem
	case top == "usr":
		return usrRule(parts)
	case top == "var":
		return varRule(parts)
	case slices.Contains(sharedTops, top) && len(parts) == 1:
		return ruleUnsafeTop
	case top == "home" && len(parts) == 2:
		return ruleUnsafeUser
	}
	return ""
}

// isSystemTree reports whether a top-level directory is refused with
// everything inside: the system trees and /lib, /lib32, /lib64, /libx32 ….
func isSystemTree(top string) bool {
	rest, ok := strings.CutPrefix(top, "lib")
	return slices.Contains(systemTrees, top) || ok && strings.Trim(rest, "0123456789x") == ""
}

// usrRule allows /usr/local/<x> only, x not a standard directory.
func usrRule(parts []string) string {
	switch {
	case len(parts) == 1:
		return ruleUnsafeSystem
	case parts[1] != "local" || len(parts) == 2:
		return ruleUnsafeUnder
	case slices.Contains(usrLocalStandard, parts[2]):
		return ruleUnsafeUnder
	}
	return ""
}

// varRule allows /var/lib/<x> and /var/opt/<x> only.
func varRule(parts []string) string {
	switch {
	case len(parts) == 1:
		return ruleUnsafeSystem
	case (parts[1] == "lib" || parts[1] == "opt") && len(parts) > 2:
		return ""
	}
	return ruleUnsafeUnder
}
