package api

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Rules shared by several fields.
const (
	ruleNoControl = "must not contain control or formatting characters (newline, tab, escape, bidi marks) or invalid UTF-8"
	ruleRequired  = "is required"
)

// hasControl reports whether s is not valid UTF-8 or holds a control,
// format or line/paragraph-separator rune. Such characters can split a log
// line, hide text in a terminal or end a shell word, and no field needs them.
func hasControl(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		} else if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return false // printable ASCII: the common case, checked without tables
	}
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return true
		}
	}
	return false
}

// isASCIIAlnum reports whether c is an ASCII letter or digit.
func isASCIIAlnum(c byte) bool {
	return isASCIILetter(c) || ('0' <= c && c <= '9')
}

// isASCIILetter reports whether c is an ASCII letter.
func isASCIILetter(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// tooLong returns the rule for a value longer than max bytes.
func tooLong(max int) string {
	return "must be at most " + strconv.Itoa(max) + " bytes"
}
