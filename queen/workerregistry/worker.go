package workerregistry

import (
	"unique"

	"github.com/rbee-fleet/rbee/shared/api"
)

// cloneWorker returns w with its own copy of ExitCode.
func cloneWorker(w api.Worker) api.Worker {
	if w.ExitCode != nil {
		c := *w.ExitCode
		w.ExitCode = &c
	}
	return w
}

// sameWorker reports whether a and b are equal but for their heartbeat
// times, comparing ExitCode by value.
func sameWorker(a, b api.Worker) bool {
	if (a.ExitCode == nil) != (b.ExitCode == nil) || a.ExitCode != nil && *a.ExitCode != *b.ExitCode {
		return false
	}
	a.LastHeartbeatUnix, b.LastHeartbeatUnix = 0, 0
	a.ExitCode, b.ExitCode = nil, nil
	return a == b
}

// share makes w's strings share memory with old's where they are equal
// (old is the stored record w replaces; nil for a new id) and with every
// other record's where they repeat across the fleet (node, model, backend,
// state: a handful of values for 160,000 workers), so a record decoded
// from a heartbeat keeps only its id and URL as strings of its own.
func share(w *api.Worker, old *api.Worker) {
	if old != nil {
		w.ID = sameString(w.ID, old.ID)
		w.URL = sameString(w.URL, old.URL)
	}
	w.Node = intern(w.Node)
	w.ModelRef = intern(w.ModelRef)
	w.Backend = intern(w.Backend)
	w.State = intern(w.State)
}

// sameString returns old when it equals s, else s.
func sameString(s, old string) string {
	if s == old {
		return old
	}
	return s
}

// intern returns the process-wide canonical copy of s (package unique:
// it goes when no record uses it any more).
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}
