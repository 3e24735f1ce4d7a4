package install

import "errors"

// Hint returns the next step that an error of Install, Start, Stop or
// Uninstall carries for the user (e.g. "install it with `queen setup
// install --node N`" when no agent is installed), or "" when it carries
// none. SSH failures carry theirs in provision.Hint.
func Hint(err error) string {
	if h, ok := errors.AsType[*hinted](err); ok {
		return h.hint
	}
	return ""
}
