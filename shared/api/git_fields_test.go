package api

import (
	"strings"
	"testing"
)

func TestValidateGitRepoURL(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{name: "https", value: "https://github.com/rbee-fleet/rbee.git"},
		{name: "https with port", value: "https://git.lab:8443/rbee.git"},
		{name: "http", value: "http://10.0.0.2:8080/rbee.git"},
		{name: "ssh", value: "ssh://git@gitea.lab:2222/fleet/rbee.git"},
		{name: "ssh ipv6", value: "ssh://git@[fd00::2]/rbee.git"},
		{name: "git daemon", value: "git://git.lab/rbee.git"},
		{name: "file", value: "file:///srv/git/rbee.git"},
		{name: "scp-like", value: "git@github.com:rbee-fleet/rbee.git"},
		{name: "scp-like without user", value: "gitbox:fleet/rbee.git"},
		{name: "uppercase scheme", value: "HTTPS://github.com/x/y"},
		{name: "empty", value: "", wantErr: true},
		{name: "bare path", value: "/srv/git/rbee.git", wantErr: true},
		{name: "relative path", value: "rbee.git", wantErr: true},
		{name: "ext transport", value: "ext::sh -c touch% /tmp/pwned", wantErr: true},
		{name: "ext transport no space", value: "ext::nc", wantErr: true},
		{name: "fd transport", value: "fd::17", wantErr: true},
		{name: "helper before url", value: "ext::ssh://host/x", wantErr: true},
		{name: "ftp scheme", value: "ftp://host/rbee.git", wantErr: true},
		{name: "javascript", value: "javascript://host/%0aalert(1)", wantErr: true},
		{name: "leading dash", value: "--upload-pack=touch /tmp/pwned", wantErr: true},
		{name: "leading dash no space", value: "-uhost:x", wantErr: true},
		{name: "host is an option", value: "ssh://-oProxyCommand=id/x", wantErr: true},
		{name: "scp host is an option", value: "-oProxyCommand=id:x", wantErr: true},
		{name: "scp user host is an option", value: "git@-oProxyCommand=id:x", wantErr: true},
		{name: "password", value: "https://vince:hunter2@github.com/x/y.git", wantErr: true},
		{name: "token as user", value: "https://ghp_abcdefghijklmnop@github.com/x/y.git", wantErr: true},
		{name: "ssh password", value: "ssh://git:secret@host/x.git", wantErr: true},
		{name: "no host", value: "https:///x/y.git", wantErr: true},
		{name: "file without path", value: "file://", wantErr: true},
		{name: "space", value: "https://github.com/x/my repo.git", wantErr: true},
		{name: "newline", value: "https://github.com/x/y.git\nrm -rf ~", wantErr: true},
		{name: "command substitution", value: "git@host:$(id)", wantErr: false},
		{name: "backtick host", value: "git@`id`:x", wantErr: true},
		{name: "quote host", value: "https://git'hub.com/x", wantErr: true},
		{name: "scp empty path", value: "git@host:", wantErr: true},
		{name: "scp empty user", value: "@host:x", wantErr: true},
		{name: "unicode host", value: "https://gït.example/x", wantErr: true},
		{name: "non-breaking space", value: "https://github.com/x\u00a0y", wantErr: true},
		{name: "too long", value: "https://h/" + strings.Repeat("r", MaxGitRepoURLLen), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertField(t, validateGitRepoURL("git_repo_url", tt.value), wantField("git_repo_url", tt.wantErr))
		})
	}
}

func TestValidateGitBranch(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{name: "main", value: "main"},
		{name: "feature path", value: "feature/ssh-retry"},
		{name: "release", value: "release-1.2.3"},
		{name: "at inside", value: "fix@home"},
		{name: "unicode", value: "feature/größe"},
		{name: "dollar parens", value: "$(id)"},
		{name: "255 chars", value: strings.Repeat("b", 255)},
		{name: "256 chars", value: strings.Repeat("b", 256), wantErr: true},
		{name: "empty", value: "", wantErr: true},
		{name: "double dot", value: "main..dev", wantErr: true},
		{name: "space", value: "my branch", wantErr: true},
		{name: "tilde", value: "main~1", wantErr: true},
		{name: "caret", value: "main^", wantErr: true},
		{name: "colon", value: "a:b", wantErr: true},
		{name: "question", value: "a?", wantErr: true},
		{name: "star", value: "feat*", wantErr: true},
		{name: "bracket", value: "a[b", wantErr: true},
		{name: "backslash", value: `a\b`, wantErr: true},
		{name: "leading dash", value: "-f", wantErr: true},
		{name: "leading slash", value: "/main", wantErr: true},
		{name: "trailing slash", value: "main/", wantErr: true},
		{name: "trailing dot", value: "main.", wantErr: true},
		{name: "lock suffix", value: "main.lock", wantErr: true},
		{name: "lock component", value: "a.lock/b", wantErr: true},
		{name: "double slash", value: "a//b", wantErr: true},
		{name: "at brace", value: "main@{1}", wantErr: true},
		{name: "at alone", value: "@", wantErr: true},
		{name: "hidden component", value: "feature/.hidden", wantErr: true},
		{name: "leading dot", value: ".main", wantErr: true},
		{name: "newline", value: "main\nrm", wantErr: true},
		{name: "del", value: "main\x7f", wantErr: true},
		{name: "tab", value: "main\tx", wantErr: true},
		{name: "ideographic space", value: "main\u3000x", wantErr: true},
		{name: "bidi override", value: "main\u202e", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertField(t, validateGitBranch("git_branch", tt.value), wantField("git_branch", tt.wantErr))
		})
	}
}

func TestGitBranchRuleMessages(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{name: "chars", value: "a b", want: `invalid git_branch "a b": must not contain spaces, control characters or any of ~ ^ : ? * [ \`},
		{name: "dot dot", value: "a..b", want: `invalid git_branch "a..b": must not contain '..'`},
		{name: "lock", value: "main.lock", want: `invalid git_branch "main.lock": must not end with '/', '.' or '.lock'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateGitBranch("git_branch", tt.value)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}
