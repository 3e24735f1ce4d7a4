package api

import "strings"

const (
	ruleInstallPath   = "must be absolute ('/opt/rbee') or start with '~/' ('~/rbee'), resolved on the hive"
	ruleInstallDotDot = "must not contain a '..' component"
)

// validateInstallPath checks where the agent is installed on the hive.
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
