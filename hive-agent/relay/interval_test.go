package relay

import (
	"testing"
	"time"
)

func TestNextInterval(t *testing.T) {
	tests := []struct {
		name string
		cur  time.Duration
		ms   int64
		want time.Duration
	}{
		{name: "queen's 5s", cur: DefaultInterval, ms: 5000, want: 5 * time.Second},
		{name: "queen's 100ms", cur: DefaultInterval, ms: 100, want: 100 * time.Millisecond},
		{name: "below the floor", cur: DefaultInterval, ms: 10, want: MinInterval},
		{name: "1ms", cur: DefaultInterval, ms: 1, want: MinInterval},
		{name: "above the ceiling", cur: DefaultInterval, ms: 3_600_000, want: MaxInterval},
		{name: "exactly the ceiling", cur: DefaultInterval, ms: 300_000, want: MaxInterval},
		{name: "huge does not overflow", cur: DefaultInterval, ms: 1 << 62, want: MaxInterval},
		{name: "no interval keeps the current one", cur: 250 * time.Millisecond, ms: 0, want: 250 * time.Millisecond},
		{name: "negative keeps the current one", cur: 2 * time.Second, ms: -5, want: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextInterval(tt.cur, tt.ms); got != tt.want {
				t.Errorf("nextInterval(%v, %d) = %v, want %v", tt.cur, tt.ms, got, tt.want)
			}
		})
	}
}

func TestJitterNeverLater(t *testing.T) {
	for _, d := range []time.Duration{MinInterval, DefaultInterval, MaxInterval} {
		for range 1000 {
			if got := jitter(d); got > d || got < d-d/10 {
				t.Fatalf("jitter(%v) = %v, want within [%v, %v]", d, got, d-d/10, d)
			}
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{attempt: 0, min: 50 * time.Millisecond, max: 100 * time.Millisecond},
		{attempt: 1, min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{attempt: 2, min: 200 * time.Millisecond, max: 400 * time.Millisecond},
		{attempt: 4, min: 500 * time.Millisecond, max: time.Second},
		{attempt: 63, min: 500 * time.Millisecond, max: time.Second},
	}
	for _, tt := range tests {
		for range 200 {
			got := backoff(retryWaitMin, retryWaitMax, tt.attempt, nil)
			if got < tt.min || got > tt.max {
				t.Fatalf("backoff(attempt %d) = %v, want within [%v, %v]", tt.attempt, got, tt.min, tt.max)
			}
		}
	}
}

// TestScheduleNext follows the waits of a loop through a run of outcomes:
// a removed node doubles them from the interval up to MaxRemovedBackoff,
// anything else waits the interval and ends the backoff.
func TestScheduleNext(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		outcomes []outcome
		want     []time.Duration // before jitter
	}{
		{
			name:     "accepted keeps the interval",
			interval: 5 * time.Second,
			outcomes: []outcome{outcomeAccepted, outcomeAccepted},
			want:     []time.Duration{5 * time.Second, 5 * time.Second},
		},
		{
			name:     "token rejected keeps the interval",
			interval: 5 * time.Second,
			outcomes: []outcome{outcomeRejected, outcomeRejected, outcomeRejected},
			want:     []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second},
		},
		{
			name:     "removed doubles up to the cap",
			interval: 5 * time.Second,
			outcomes: []outcome{outcomeRemoved, outcomeRemoved, outcomeRemoved, outcomeRemoved, outcomeRemoved, outcomeRemoved, outcomeRemoved},
			want: []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
				160 * time.Second, MaxRemovedBackoff, MaxRemovedBackoff},
		},
		{
			name:     "accepted again ends the backoff",
			interval: 5 * time.Second,
			outcomes: []outcome{outcomeRemoved, outcomeRemoved, outcomeAccepted, outcomeRemoved},
			want:     []time.Duration{10 * time.Second, 20 * time.Second, 5 * time.Second, 10 * time.Second},
		},
		{
			name:     "an interval at the ceiling stays there",
			interval: MaxInterval,
			outcomes: []outcome{outcomeRemoved, outcomeRemoved},
			want:     []time.Duration{MaxRemovedBackoff, MaxRemovedBackoff},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := schedule{interval: tt.interval}
			for i, o := range tt.outcomes {
				got := s.next(o)
				if got > tt.want[i] || got < tt.want[i]-tt.want[i]/10 {
					t.Errorf("wait %d = %v, want %v less up to a tenth of jitter", i, got, tt.want[i])
				}
			}
		})
	}
}
