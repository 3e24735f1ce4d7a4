package provision

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// hostileArgs are values a user or a config may hand us: each must reach the
// program exactly as it is.
var hostileArgs = []struct {
	name string
	arg  string
}{
	{"empty", ""},
	{"plain", "gpu-3"},
	{"path", "/opt/rbee/bin/hive-agent"},
	{"space", "my model dir"},
	{"single quote", "it's"},
	{"only quotes", "'''"},
	{"double quote", `say "hi"`},
	{"command substitution", "$(touch PWNED)"},
	{"backtick", "`touch PWNED`"},
	{"variable", "$HOME ${PATH}"},
	{"semicolon", "a; touch PWNED"},
	{"and", "a && touch PWNED"},
	{"pipe", "a | touch PWNED"},
	{"redirect", "> PWNED"},
	{"newline", "line1\nline2"},
	{"trailing newline", "line\n"},
	{"tab", "a\tb"},
	{"glob", "*"},
	{"glob in word", "/etc/*.conf"},
	{"question mark", "a?"},
	{"brackets", "[abc]"},
	{"braces", "{a,b}"},
	{"tilde", "~"},
	{"tilde path", "~/models"},
	{"hash", "#comment"},
	{"assignment", "FOO=bar"},
	{"leading dash", "-rf"},
	{"percent", "50%"},
	{"backslash", `a\b\\c\`},
	{"bang", "hello!"},
	{"non-ASCII", "modèle-ünïcødé-模型"},
	{"invalid UTF-8", "\xff\xfe"},
	{"control bytes", "\x01\x1b[31m"},
	{"url", "https://github.com/rbee-fleet/rbee.git?ref=main&x=1"},
}

func TestQuoteGolden(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "''"},
		{"safe word", "gpu-3", "gpu-3"},
		{"safe path", "/opt/rbee/bin/hive-agent", "/opt/rbee/bin/hive-agent"},
		{"user at host with port", "root@10.0.0.7:22", "root@10.0.0.7:22"},
		{"percent format", "%s", "%s"},
		{"space", "my model", "'my model'"},
		{"single quote", "it's", `'it'\''s'`},
		{"only a quote", "'", `''\'''`},
		{"command substitution", "$(touch X)", "'$(touch X)'"},
		{"backtick", "`id`", "'`id`'"},
		{"semicolon", "a;b", "'a;b'"},
		{"newline", "a\nb", "'a\nb'"},
		{"glob", "*", "'*'"},
		{"assignment", "FOO=bar", "'FOO=bar'"},
		{"tilde", "~/x", "'~/x'"},
		{"non-ASCII", "modèle", "'modèle'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quote(tt.in); got != tt.want {
				t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCommandGolden(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"no args", []string{"uname"}, "uname"},
		{"flags", []string{"uname", "-a"}, "uname -a"},
		{"clone with --", []string{"git", "clone", "--", "https://example.com/r.git", "/opt/my models"},
			"git clone -- https://example.com/r.git '/opt/my models'"},
		{"empty argument kept", []string{"printf", "%s", ""}, "printf %s ''"},
		{"program with space", []string{"/opt/my tools/run"}, "'/opt/my tools/run'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Command(tt.argv[0], tt.argv[1:]...); got != tt.want {
				t.Errorf("Command(%q) = %q, want %q", tt.argv, got, tt.want)
			}
		})
	}
}

func TestShellGolden(t *testing.T) {
	got := Shell(Argv{"mkdir", "-p", "--", "/opt/it's"}, And, Argv{"chmod", "700", "/opt/it's"}, StderrToStdout)
	want := `/bin/sh -c -- 'mkdir -p -- '\''/opt/it'\''\'\'''\''s'\'' && chmod 700 '\''/opt/it'\''\'\'''\''s'\'' 2>&1'`
	if got != want {
		t.Errorf("Shell = %s\nwant    %s", got, want)
	}
}

// TestQuoteThroughSh runs every hostile value through the real /bin/sh and
// compares what printf received byte for byte. It runs in an empty directory
// and checks that nothing got created there.
func TestQuoteThroughSh(t *testing.T) {
	for _, tt := range hostileArgs {
		t.Run(tt.name, func(t *testing.T) {
			got := printfArgs(t, Command("printf", `%s\0`, tt.arg))
			if len(got) != 1 || got[0] != tt.arg {
				t.Errorf("sh received %q, want [%q]", got, tt.arg)
			}
		})
	}
}

func TestCommandAllHostileArgsAtOnce(t *testing.T) {
	var args []string
	for _, tt := range hostileArgs {
		args = append(args, tt.arg)
	}
	got := printfArgs(t, Command("printf", append([]string{`%s\0`}, args...)...))
	if !slices.Equal(got, args) {
		t.Errorf("sh received\n%q\nwant\n%q", got, args)
	}
}

// TestShellThroughSh checks that a Shell script survives two shells: the one
// that runs the command line (the login shell on a node) and /bin/sh -c.
func TestShellThroughSh(t *testing.T) {
	var args []string
	for _, tt := range hostileArgs {
		args = append(args, tt.arg)
	}
	cmd := Shell(Argv(append([]string{"printf", `%s\0`}, args...)), And, Argv{"printf", `%s\0`, "second command"})
	got := printfArgs(t, cmd)
	want := append(slices.Clone(args), "second command")
	if !slices.Equal(got, want) {
		t.Errorf("sh received\n%q\nwant\n%q", got, want)
	}
}

func TestRawIsNotQuoted(t *testing.T) {
	got := printfArgs(t, Shell(Argv{"printf", `%s\0`, "a b"}, Then, Raw(`printf '%s\0' "$((1+2))"`)))
	want := []string{"a b", "3"}
	if !slices.Equal(got, want) {
		t.Errorf("sh received %q, want %q", got, want)
	}
}

func FuzzQuote(f *testing.F) {
	for _, tt := range hostileArgs {
		f.Add(tt.arg)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip("a NUL byte cannot be part of an argument")
		}
		got := printfArgs(t, Command("printf", `%s\0`, s))
		if len(got) != 1 || got[0] != s {
			t.Errorf("Quote(%q) = %s; sh received %q", s, Quote(s), got)
		}
	})
}

// printfArgs runs cmdline with the local /bin/sh -c in an empty directory,
// expects printf '%s\0' output and returns the arguments it printed. It
// fails the test if the command created any file.
func printfArgs(t *testing.T, cmdline string) []string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "/bin/sh", "-c", cmdline)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh -c %s: %v: %s", cmdline, err, stderr.Bytes())
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("sh -c %s created %s", cmdline, entries[0].Name())
	}
	if !bytes.HasSuffix(out, []byte{0}) {
		t.Fatalf("sh -c %s printed %q, want NUL-terminated arguments", cmdline, out)
	}
	return strings.Split(string(out[:len(out)-1]), "\x00")
}
