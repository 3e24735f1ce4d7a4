package loadgen

import (
	"slices"
	"time"
)

// Merge combines runs, say short runs against two servers taken in turn
// so that both see the same background noise, as if they were one run of
// their summed Duration.
func Merge(runs ...Stats) Stats {
	var st Stats
	var all []time.Duration
	for _, r := range runs {
		st.Requests += r.Requests
		st.Errors += r.Errors
		st.Duration += r.Duration
		if st.FirstError == nil {
			st.FirstError = r.FirstError
		}
		all = append(all, r.Latencies...)
	}
	return finish(st, all)
}

// summarize merges the loops' results into Stats over the run's wall time.
func summarize(results []result, wall time.Duration) Stats {
	st := Stats{Duration: wall}
	var all []time.Duration
	for _, r := range results {
		all = append(all, r.latencies...)
		st.Errors += r.errors
		if st.FirstError == nil {
			st.FirstError = r.firstErr
		}
	}
	st.Requests = len(all)
	return finish(st, all)
}

// finish sets the rate and the latency figures of st from all.
func finish(st Stats, all []time.Duration) Stats {
	if st.Duration > 0 {
		st.PerSecond = float64(st.Requests-st.Errors) / st.Duration.Seconds()
	}
	slices.Sort(all)
	st.Latencies = all
	st.P50, st.P99 = percentile(all, 50), percentile(all, 99)
	if len(all) > 0 {
		st.Max = all[len(all)-1]
	}
	return st
}

// percentile returns the nearest-rank p-th percentile of sorted, 0 for
// none.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n), 1-based
	return sorted[max(rank, 1)-1]
}
