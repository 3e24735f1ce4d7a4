package workerregistry

import "github.com/rbee-fleet/rbee/shared/api"

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
