package provision

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy says how [DialWithRetry] retries. Zero fields take the
// defaults: 3 attempts, 200ms then 400ms between them, ±20% jitter.
type RetryPolicy struct {
	// Attempts is the total number of dials; 0 means 3.
	Attempts int
	// Delays are the waits after attempt 1, 2, ...; the last one repeats.
	// nil means 200ms, 400ms.
	Delays []time.Duration
	// Jitter spreads each delay by up to ±Jitter of it; 0 means 0.2, a
	// negative value means none.
	Jitter float64
	// OnAttempt, if set, is called after every failed attempt (1-based) with
	// its error and the wait before the next one; nextDelay is 0 when no
	// attempt follows.
	OnAttempt func(attempt, total int, err error, nextDelay time.Duration)
	// Sleep waits d or until ctx is done; nil means a timer. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetryPolicy returns the connect policy: 3 attempts, 200ms then
// 400ms between them, ±20% jitter.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{}.withDefaults()
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 3
	}
	if len(p.Delays) == 0 {
		p.Delays = []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = 0.2
	case p.Jitter < 0:
		p.Jitter = 0
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// delay returns the jittered wait after attempt.
func (p RetryPolicy) delay(attempt int) time.Duration {
	d := p.Delays[min(attempt, len(p.Delays))-1]
	return time.Duration(float64(d) * (1 + p.Jitter*(2*rand.Float64()-1)))
}

// DialWithRetry dials like [Dial] and retries failures that are
// [Retryable] (network errors), up to p.Attempts dials in all, waiting
// between them. Other failures return at once. When all attempts fail the
// error reads "SSH connection failed after N attempts: <last error>" and
// still matches the last error's class (errors.Is(err, ErrRefused), ...).
func DialWithRetry(ctx context.Context, t Target, p RetryPolicy, opts DialOptions) (*Client, error) {
	p = p.withDefaults()
	for attempt := 1; ; attempt++ {
		c, err := Dial(ctx, t, opts)
		if err == nil {
			return c, nil
		}
		retry := attempt < p.Attempts && Retryable(err) && ctx.Err() == nil
		var next time.Duration
		if retry {
			next = p.delay(attempt)
		}
		if p.OnAttempt != nil {
			p.OnAttempt(attempt, p.Attempts, err, next)
		}
		switch {
		case !retry && attempt == 1:
			return nil, err
		case !retry:
			return nil, fmt.Errorf("SSH connection failed after %d attempts: %w", attempt, err)
		}
		if sleepErr := p.Sleep(ctx, next); sleepErr != nil {
			return nil, fmt.Errorf("SSH connection abandoned after %d attempts: %w; last error: %w", attempt, sleepErr, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
