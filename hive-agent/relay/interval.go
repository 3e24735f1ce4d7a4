package relay

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Bounds of the heartbeat interval, whatever the queen asks for.
const (
	// MinInterval is the shortest interval between heartbeats.
	MinInterval = 100 * time.Millisecond
	// MaxInterval is the longest interval between heartbeats.
	MaxInterval = 5 * time.Minute
	// DefaultInterval is the interval until the queen first answers.
	DefaultInterval = api.DefaultHeartbeatIntervalMS * time.Millisecond
	// MaxRemovedBackoff is the longest wait between heartbeats while the
	// queen answers that this node was removed.
	MaxRemovedBackoff = 5 * time.Minute
)

// schedule says when the next heartbeat goes: after the interval the queen
// asked for or, while the queen answers that the node was removed, after a
// backoff that doubles from the interval up to MaxRemovedBackoff. Both are
// jittered.
type schedule struct {
	interval time.Duration // the queen's, clamped
	backoff  time.Duration // 0: not backing off
}

// next returns the wait before the heartbeat after one that ended with o.
func (s *schedule) next(o outcome) time.Duration {
	if o != outcomeRemoved {
		s.backoff = 0
		return jitter(s.interval)
	}
	s.backoff = min(max(s.backoff, s.interval)*2, MaxRemovedBackoff)
	return jitter(s.backoff)
}

// after returns the wait before the heartbeat after one that ended with
// err (its answer asked for a snapshot when needSnapshot): Retry-After of
// a busy queen plus up to as much again at random; a random time up to the
// interval after a failure or when the queen asked for a snapshot, so that
// the agents of a restarted queen come back spread over one interval; else
// what next says.
func (s *schedule) after(err error, needSnapshot bool) time.Duration {
	o := classify(err)
	if se, ok := errors.AsType[*StatusError](err); ok && se.RetryAfter > 0 && o == outcomeBusy {
		s.backoff = 0
		d := min(se.RetryAfter, MaxInterval)
		return d + rand.N(d+1)
	}
	if o == outcomeUnreachable || o == outcomeBusy || needSnapshot {
		s.backoff = 0
		return spread(s.interval)
	}
	return s.next(o)
}

// spread returns a random wait in [MinInterval, d].
func spread(d time.Duration) time.Duration {
	return MinInterval + rand.N(max(d-MinInterval, 0)+1)
}

// nextInterval returns the interval the queen asked for in ms, clamped to
// [MinInterval, MaxInterval]; an answer without one (ms <= 0) keeps cur.
func nextInterval(cur time.Duration, ms int64) time.Duration {
	if ms <= 0 {
		return cur
	}
	if ms > MaxInterval.Milliseconds() {
		return MaxInterval
	}
	return max(time.Duration(ms)*time.Millisecond, MinInterval)
}

// jitter shortens d by up to a tenth at random: agents started together
// spread out, and a beat never comes later than the queen asked.
func jitter(d time.Duration) time.Duration {
	return d - rand.N(d/10+1)
}
