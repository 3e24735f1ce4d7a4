package gateway

import (
	"net/http"
	"strings"
)

// authenticate checks the client key of r and returns its name; it
// answers 401 (no key, an unknown or revoked one) or 403 (the admin
// token) itself and returns false. The queen's HTTP server logs both
// refusals with a fingerprint of the token.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		(&apiError{status: http.StatusUnauthorized, typ: typeAuthentication, code: codeInvalidKey,
			msg: "missing client key: send Authorization: Bearer <key>; create a key with `queen keys create --name NAME`"}).write(w)
		return "", false
	}
	if g.cfg.Keys.IsAdminToken(key) {
		(&apiError{status: http.StatusForbidden, typ: typePermission, code: codeAdminToken,
			msg: "the admin token is not accepted on gateway routes; create a client key with `queen keys create --name NAME`"}).write(w)
		return "", false
	}
	name, ok, err := g.cfg.Keys.ClientOf(r.Context(), key)
	if err != nil {
		g.log.ErrorContext(r.Context(), "check client key", "err", err)
		(&apiError{status: http.StatusServiceUnavailable, typ: typeServer, code: codeInternal, retryAfter: 1,
			msg: "the queen could not check the key; retry"}).write(w)
		return "", false
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		(&apiError{status: http.StatusUnauthorized, typ: typeAuthentication, code: codeInvalidKey,
			msg: "unknown or revoked client key; list the keys with `queen keys list`"}).write(w)
		return "", false
	}
	return name, true
}
