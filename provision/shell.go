package provision

import "strings"

// A Fragment is one piece of a compound command built with [Shell]: either an
// [Argv], which is quoted, or a [Raw] fragment, which is not.
type Fragment interface {
	shellText() string
}

// Argv is a program and its arguments. In a [Shell] script it is written out
// with [Command], so every element is quoted.
type Argv []string

func (a Argv) shellText() string {
	if len(a) == 0 {
		return ""
	}
	return Command(a[0], a[1:]...)
}

// Raw is a shell fragment passed through without quoting: an operator, a
// redirection, a reviewed constant script. Never convert a value that came
// from a user, a config file or the network to Raw; put it in an [Argv].
// Every conversion to Raw is a place to review.
type Raw string

func (r Raw) shellText() string { return string(r) }

// Reviewed fragments for compound commands.
const (
	And            Raw = "&&"   // run the next command if the previous one succeeded
	Or             Raw = "||"   // run the next command if the previous one failed
	Then           Raw = ";"    // run the next command regardless
	Pipe           Raw = "|"    // pipe stdout into the next command
	StderrToStdout Raw = "2>&1" // merge stderr into stdout
	Silence        Raw = ">/dev/null 2>&1"
)

// Shell returns a command that runs the fragments, joined by spaces, as one
// script under /bin/sh:
//
//	/bin/sh -c -- '<script>'
//
// The absolute path keeps the script away from the remote user's login shell,
// which only sees one quoted word; "--" stops a script that starts with "-"
// from being read as an option.
//
//	Shell(Argv{"mkdir", "-p", "--", dir}, And, Argv{"chmod", "700", "--", dir})
func Shell(parts ...Fragment) string {
	return Command("/bin/sh", "-c", "--", Script(parts...))
}

// Script returns the fragments joined by spaces, without the /bin/sh wrapper
// that [Shell] adds. Use it when another program runs the script, and quote
// it as one argument of that program:
//
//	Command("sudo", "-n", "/bin/sh", "-c", "--", Script(parts...))
func Script(parts ...Fragment) string {
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		if t := p.shellText(); t != "" {
			texts = append(texts, t)
		}
	}
	return strings.Join(texts, " ")
}
