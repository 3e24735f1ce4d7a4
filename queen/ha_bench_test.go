package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
	"github.com/rbee-fleet/rbee/testenv/pgtest"
)

// takeoverRounds is how many takeovers one benchmark iteration times.
const takeoverRounds = 10

// BenchmarkTakeover times the takeover of an HA pair with the default
// 1 s lease poll and 5 s lease time: kill -9 of the active queen → first
// acknowledged write (a client key) on the other, median of
// takeoverRounds. The baseline, measured in the same run, is what one
// queen on SQLite gets from an instant restart: kill -9 → the queen
// started again → first acknowledged write.
//
//	go test -run '^$' -bench Takeover -benchtime 1x ./queen/
func BenchmarkTakeover(b *testing.B) {
	c := pgtest.Start(b)
	for b.Loop() {
		p := startHAPair(b, c.NewDatabase(b))
		takeover := median(b, func(i int) time.Duration { return p.takeover(b, i) })
		single := startDaemon(b, filepath.Join(b.TempDir(), "single"))
		token := readToken(b, single.dataDir)
		restart := median(b, func(i int) time.Duration {
			single.kill()
			start := time.Now()
			single = startDaemon(b, single.dataDir)
			return firstWrite(b, single.url, token, fmt.Sprintf("restart-%d", i), start)
		})
		b.ReportMetric(float64(takeover.Milliseconds()), "takeover-median-ms")
		b.ReportMetric(float64(restart.Milliseconds()), "restart-median-ms")
		b.ReportMetric(float64(takeover)/float64(restart), "takeover/restart")
	}
}

// takeover kills the active queen, times the first write on the other and
// starts the killed one again as the standby.
func (p *haPair) takeover(b *testing.B, round int) time.Duration {
	active := p.activeIndex(b)
	p.queens[active].kill()
	start := time.Now()
	took := firstWrite(b, p.queens[1-active].url, p.token, fmt.Sprintf("takeover-%d", round), start)
	p.restart(b, active)
	p.awaitSettled(b, active)
	return took
}

// awaitSettled waits until queen i is a standby that has seen the other's
// lease, then for a random part of the poll, so the next kill falls at any
// point of its poll cycle rather than right before its first try.
func (p *haPair) awaitSettled(b *testing.B, i int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := fleet.Await(ctx, "the restarted queen to see the lease", func() (bool, string, error) {
		h, err := health(ctx, p.queens[i])
		if err != nil {
			return false, err.Error(), nil
		}
		return h.Role == api.RoleStandby && h.ActiveURL == p.queens[1-i].url, fmt.Sprintf("%+v", h), nil
	})
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
}

// activeIndex returns which of the pair is active.
func (p *haPair) activeIndex(b *testing.B) int {
	for i, q := range p.queens {
		if h, err := health(context.Background(), q); err == nil && h.Role == api.RoleActive {
			return i
		}
	}
	b.Fatal("no queen of the pair is active")
	return 0
}

// median returns the median of takeoverRounds runs of round.
func median(b *testing.B, round func(i int) time.Duration) time.Duration {
	b.Helper()
	var took []time.Duration
	for i := range takeoverRounds {
		took = append(took, round(i))
	}
	slices.Sort(took)
	b.Logf("rounds: %v", took)
	return took[len(took)/2]
}

// firstWrite posts client keys to url until one is accepted and returns
// the time since start.
func firstWrite(b *testing.B, url, token, name string, start time.Time) time.Duration {
	b.Helper()
	for time.Since(start) < 30*time.Second {
		if postKey(b, url, token, name) == "ACCEPTED" {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("no write accepted at %s within 30 s", url)
	return 0
}
