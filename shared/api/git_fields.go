package api

import (
	"net/url"
	"strings"
	"unicode"
)

// Limits of the git fields.
const (
	// MaxGitRepoURLLen is the longest git_repo_url.
	MaxGitRepoURLLen = 4096
	// MaxGitBranchLen is the longest git_branch.
	MaxGitBranchLen = 255
)

const (
	ruleRepoSpace     = "must not contain spaces or control characters"
	ruleRepoDash      = "must not start with '-' (git would read it as an option)"
	ruleRepoHelper    = "must not use a git remote-helper transport such as ext:: or fd::"
	ruleRepoForm      = "must be a URL (https://host/owner/repo.git, ssh://git@host/repo.git) or scp-like user@host:path; for a local repository use file:///path/to/repo.git"
	ruleRepoScheme    = "must use https, http, ssh, git or file"
	ruleRepoHost      = "must name a host that is a hostname or an IP address, not starting with '-'"
	ruleRepoFilePath  = "must name a path, e.g. file:///srv/git/rbee.git"
	ruleRepoPassword  = "must not embed a password or token; use an SSH key or a git credential helper"
	ruleRepoScpUser   = "has a user part before '@' that is not a valid user name"
	ruleBranchChars   = "must not contain spaces, control characters or any of ~ ^ : ? * [ \\"
	ruleBranchDotDot  = "must not contain '..'"
	ruleBranchStart   = "must not start with '-' or '/'"
	ruleBranchEnd     = "must not end with '/', '.' or '.lock'"
	ruleBranchSlashes = "must not contain '//'"
	ruleBranchAt      = "must not be '@' or contain '@{'"
	ruleBranchPart    = "must not have a '/'-separated part that starts with '.' or ends with '.lock'"
)

// repoSchemes are the URL schemes git may clone from.
var repoSchemes = map[string]bool{"https": true, "http": true, "ssh": true, "git": true, "file": true}

// validateGitRepoURL checks a repository address the hive will clone.
func validateGitRepoURL(field, repo string) error {
	switch {
	case repo == "":
		return fieldErr(field, repo, ruleRequired)
	case len(repo) > MaxGitRepoURLLen:
		return fieldErr(field, repo, tooLong(MaxGitRepoURLLen))
	case hasControl(repo) || strings.IndexFunc(repo, unicode.IsSpace) >= 0:
		return fieldErr(field, repo, ruleRepoSpace)
	case repo[0] == '-':
		return fieldErr(field, repo, ruleRepoDash)
	case isHelperTransport(repo):
		return fieldErr(field, repo, ruleRepoHelper)
	case strings.Contains(repo, "://"):
		return validateRepoURL(field, repo)
	}
	return validateRepoScp(field, repo)
}

// isHelperTransport reports whether git would read repo as
// <transport>::<address> and run a remote helper: a "::" before any "://".
func isHelperTransport(repo string) bool {
	helper := strings.Index(repo, "::")
	scheme := strings.Index(repo, "://")
	return helper >= 0 && (scheme < 0 || helper < scheme)
}

// validateRepoURL checks the scheme://… form.
func validateRepoURL(field, repo string) error {
	u, err := url.Parse(repo)
	if err != nil {
		return fieldErr(field, repo, ruleRepoForm)
	}
	if !repoSchemes[u.Scheme] {
		return fieldErr(field, repo, ruleRepoScheme)
	}
	if hasCredentials(u) {
		return fieldErr(field, repo, ruleRepoPassword)
	}
	if u.Scheme == "file" {
		if u.Path == "" || u.Path == "/" {
			return fieldErr(field, repo, ruleRepoFilePath)
		}
		return nil
	}
	if validateSSHHost(field, u.Hostname()) != nil {
		return fieldErr(field, repo, ruleRepoHost)
	}
	return nil
}

// hasCredentials reports whether u carries a secret: any password, or a user
// part outside ssh:// (over http(s) that slot holds access tokens). The URL
// is stored and shown by list-nodes, so it must not hold one.
func hasCredentials(u *url.URL) bool {
	if u.User == nil {
		return false
	}
	_, hasPassword := u.User.Password()
	return hasPassword || u.Scheme != "ssh"
}

// validateRepoScp checks the scp-like [user@]host:path form. Git takes that
// form when a ':' comes before the first '/'.
func validateRepoScp(field, repo string) error {
	colon := strings.IndexByte(repo, ':')
	slash := strings.IndexByte(repo, '/')
	if colon <= 0 || (slash >= 0 && slash < colon) || colon == len(repo)-1 {
		return fieldErr(field, repo, ruleRepoForm)
	}
	host := repo[:colon]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		if user := host[:at]; user == "" || validateSSHUser(field, user) != nil {
			return fieldErr(field, repo, ruleRepoScpUser)
		}
		host = host[at+1:]
	}
	if host == "" || host[0] == '-' || !hostChars(host) || strings.Contains(host, ":") {
		return fieldErr(field, repo, ruleRepoHost)
	}
	return nil
}

// validateGitBranch checks a branch name with the rules of
// `git check-ref-format --branch`, plus a length limit.
func validateGitBranch(field, b string) error {
	if b == "" {
		return fieldErr(field, b, ruleRequired)
	}
	if len(b) > MaxGitBranchLen {
		return fieldErr(field, b, tooLong(MaxGitBranchLen))
	}
	if rule := branchRule(b); rule != "" {
		return fieldErr(field, b, rule)
	}
	return nil
}

// branchRule returns the first check-ref-format rule b breaks, or "".
func branchRule(b string) string {
	switch {
	case hasControl(b) || strings.ContainsAny(b, " ~^:?*[\\") || strings.IndexFunc(b, unicode.IsSpace) >= 0:
		return ruleBranchChars
	case strings.Contains(b, ".."):
		return ruleBranchDotDot
	case b[0] == '-' || b[0] == '/':
		return ruleBranchStart
	case strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock"):
		return ruleBranchEnd
	case strings.Contains(b, "//"):
		return ruleBranchSlashes
	case b == "@" || strings.Contains(b, "@{"):
		return ruleBranchAt
	}
	for part := range strings.SplitSeq(b, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return ruleBranchPart
		}
	}
	return ""
}
