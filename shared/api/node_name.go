package api

import "strings"

// MaxNodeNameLen is the longest node name, the length of one DNS label.
const MaxNodeNameLen = 63

const (
	ruleNodeName      = "must be 1–63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"
	ruleNodeNameLabel = "must not contain '..' or put '-' next to '.' (each dot-separated part starts and ends with a letter or digit)"
)

// ValidateNodeName checks a node name as found in a URL path or a request.
// A name is DNS-safe: it appears in hostnames, file names and log prefixes.
func ValidateNodeName(name string) error {
	return validateNodeName("name", name)
}

// validateNodeName checks name and reports errors under field.
func validateNodeName(field, name string) error {
	if name == "" || len(name) > MaxNodeNameLen || !isNameAlnum(name[0]) || !isNameAlnum(name[len(name)-1]) {
		return fieldErr(field, name, ruleNodeName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isNameAlnum(c) && c != '-' && c != '.' {
			return fieldErr(field, name, ruleNodeName)
		}
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fieldErr(field, name, ruleNodeNameLabel)
		}
	}
	return nil
}

// isNameAlnum reports whether c is a lowercase ASCII letter or a digit.
func isNameAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
}
