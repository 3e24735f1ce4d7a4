package relay

import (
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
)

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
