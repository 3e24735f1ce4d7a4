package provision

import "strings"

// Quote returns s quoted for a POSIX shell so that the shell reads it back as
// exactly one word equal to s.
//
// Words made only of letters, digits and the characters @%+:,./_- are
// returned unchanged; anything else, including the empty string, is wrapped
// in single quotes, and each single quote inside is closed, escaped and
// reopened:
//
//	it's  ->  'it'\''s'
//
// The function works on bytes, so non-UTF-8 input survives unchanged. A NUL
// byte cannot be passed to a program at all; Quote does not try to represent
// it.
//
// The quoting is for POSIX shells (sh, dash, bash, zsh, ksh). The remote
// login shell of every node must be one of them.
func Quote(s string) string {
	if s != "" && isSafeWord(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isSafeWord reports whether every byte of s is one no POSIX shell treats
// specially anywhere in a word. '=' is left out so that a word is never read
// as a variable assignment, '~' so that it is never tilde-expanded.
func isSafeWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("@%+:,./_-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Command returns the shell string that runs name with args, every element
// quoted with [Quote]. Put "--" before user-supplied positional arguments so
// they cannot be read as options:
//
//	Command("git", "clone", "--", url, dir)
func Command(name string, args ...string) string {
	var b strings.Builder
	b.WriteString(Quote(name))
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(Quote(a))
	}
	return b.String()
}
