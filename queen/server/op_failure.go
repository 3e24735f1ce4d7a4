package server

import (
	"errors"
	"net/http"

	"github.com/rbee-fleet/rbee/provision"
	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/queen/lease"
	"github.com/rbee-fleet/rbee/shared/api"
)

// opFailure maps the error of hive start, hive stop or uninstall to the
// status and error the client gets. A failure of SSH itself (to connect,
// or a connection lost midway) keeps its SSH code and hint; a step that
// failed on a node SSH reached is HIVE_OP_FAILED with that step's own hint
// (e.g. `queen setup install --node N` when nothing is installed).
func opFailure(err error, n api.Node) (int, api.ErrorDetail) {
	switch {
	case sshLevel(err):
		return sshFailure(err, n.NodeName, n.HostKey != "")
	case hiveregistry.IsBusy(err):
		return http.StatusServiceUnavailable, registryBusyDetail()
	case errors.Is(err, lease.ErrFenced):
		return http.StatusServiceUnavailable, fencedDetail(err)
	}
	hint := install.Hint(err)
	if hint == "" {
		hint = "log in to the node with ssh, fix the cause above, then run the command again"
	}
	return http.StatusBadGateway, api.ErrorDetail{Code: api.CodeHiveOpFailed, Message: err.Error(), Hint: hint}
}

// sshLevel reports whether err is a failure of SSH itself rather than of a
// step run over it: no connection, refused credentials or host key, a bad
// target, or a connection lost while a step ran.
func sshLevel(err error) bool {
	if _, ok := errors.AsType[*provision.DialError](err); ok {
		return true
	}
	for _, class := range []error{provision.ErrNetwork, provision.ErrUnknownHost, provision.ErrAuth,
		provision.ErrNoCredentials, provision.ErrHostKeyMismatch, provision.ErrInvalidTarget, provision.ErrConnectionLost} {
		if errors.Is(err, class) {
			return true
		}
	}
	return false
}
