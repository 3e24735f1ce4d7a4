package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/rbee-fleet/rbee/queen/lease"
	"github.com/rbee-fleet/rbee/queen/metrics"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/version"
)

// Lease is what the server reads of the queen's lease in an HA pair on
// PostgreSQL (package lease); a nil Config.Lease means always active.
type Lease interface {
	Status() lease.Status
}

// role returns the queen's lease status; active without a lease.
func (s *Server) role() lease.Status {
	if s.cfg.Lease == nil {
		return lease.Status{Role: lease.RoleActive, ActiveURL: s.cfg.QueenURL}
	}
	return s.cfg.Lease.Status()
}

// health answers 200 on active and standby queens alike, with the role.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	st := s.role()
	writeJSON(w, http.StatusOK, api.Health{Status: api.HealthAlive, Version: version.String(), APIVersion: version.APIVersion,
		Role: st.Role, Epoch: st.Epoch, ActiveURL: st.ActiveURL, LeaseAgeMS: st.Age.Milliseconds()})
}

// gate answers every route but health and metrics with 503 STANDBY while
// the queen is standby; heartbeats too, so agents move to the active queen.
func (s *Server) gate(next http.Handler) http.Handler {
	if s.cfg.Lease == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/health" || r.URL.Path == "/metrics" {
			next.ServeHTTP(w, r)
			return
		}
		if st := s.cfg.Lease.Status(); st.Role != lease.RoleActive {
			writeStandby(w, st)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeStandby answers 503 STANDBY naming the active queen.
func writeStandby(w http.ResponseWriter, st lease.Status) {
	msg := "this queen is standby and the active queen is not known yet"
	hint := "try again in a few seconds; `queen status` shows each queen's role"
	if st.ActiveURL != "" {
		w.Header().Set(api.HeaderActiveQueen, st.ActiveURL)
		msg = "this queen is standby; the active queen is " + st.ActiveURL
		hint = "send the request to " + st.ActiveURL + " (the queen CLI follows it by itself, or list both queens in --queen-url a,b)"
	}
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, api.ErrorDetail{Code: api.CodeStandby, Message: msg, Hint: hint})
}

// lostLease reports whether err ended a request because this queen lost
// the lease: a write the lease fenced, or a request cancelled when the
// queen stepped down.
func (s *Server) lostLease(err error) bool {
	return errors.Is(err, lease.ErrFenced) ||
		s.cfg.Lease != nil && errors.Is(err, context.Canceled) && s.role().Role != lease.RoleActive
}

// writeFenced answers a request that ended because this queen lost the
// lease as a standby would; false for any other error.
func (s *Server) writeFenced(w http.ResponseWriter, err error) bool {
	if !s.lostLease(err) {
		return false
	}
	s.log.Warn("write refused: this queen lost the lease", "err", err)
	writeStandby(w, s.role())
	return true
}

// fencedDetail is the streamed form of a write the lease refused.
func fencedDetail(err error) api.ErrorDetail {
	return api.ErrorDetail{Code: api.CodeStandby, Message: err.Error(),
		Hint: "nothing was written; send the request again, to the active queen (`queen status` shows it)"}
}

// leaseState is the lease for the metrics.
func (s *Server) leaseState() metrics.LeaseState {
	st := s.role()
	return metrics.LeaseState{Role: st.Role, Epoch: st.Epoch, Age: st.Age}
}

// interruptedInstall is the last install a queen of an HA pair records as
// an install starts. The install's own outcome replaces it when it ends;
// when the queen dies or loses the lease first (its final write is then
// fenced), it stays, so the new active queen reports the install as
// interrupted instead of losing it.
func interruptedInstall(now int64) api.InstallRecord {
	return api.InstallRecord{Result: api.ResultFailed, Phase: "start", FinishedUnix: now,
		Error: "interrupted: the queen running it lost the lease",
		Hint:  "run the install again: `queen setup install --node NAME`"}
}

// markInstallRunning records interruptedInstall for node before an
// install starts, on a queen with a lease only.
func (s *Server) markInstallRunning(ctx context.Context, node string) {
	if s.cfg.Lease == nil {
		return
	}
	if err := s.cfg.Registry.RecordInstall(ctx, node, interruptedInstall(s.cfg.Now().Unix())); err != nil {
		s.log.Warn("record the install's start", "node", node, "err", err)
	}
}
