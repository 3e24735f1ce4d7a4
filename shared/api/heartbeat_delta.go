package api

import (
	"fmt"
	"strconv"
)

// SnapshotEvery is how many beats an agent sends at most between two full
// worker lists: every 60th beat (5 minutes at the default 5 s interval) is
// a snapshot even when the queen acknowledged every delta, so a record the
// queen lost some other way comes back within that time.
const SnapshotEvery = 60

// CodeQueenBusy is a heartbeat the queen turned away because as many as
// it handles at once were in flight: 503 with Retry-After, nothing applied.
const CodeQueenBusy = "QUEEN_BUSY"

// MaxRemoved bounds the ids of one delta's Removed list; an agent with
// more gone sends a snapshot instead.
const MaxRemoved = 4096

// ValidateBeatSeq checks the sequence fields of a heartbeat: a delta has a
// Seq and a BaseSeq before it, and only a delta has Removed ids, each a
// valid worker id.
func ValidateBeatSeq(b HeartbeatRequest) error {
	const ruleDelta = "a delta needs seq ≥ 2 and 1 ≤ base_seq < seq"
	switch {
	case !b.Delta && b.BaseSeq != 0:
		return fieldErr("base_seq", strconv.FormatUint(b.BaseSeq, 10), "must be absent unless delta is true")
	case !b.Delta && len(b.Removed) > 0:
		return fieldErr("removed", strconv.Itoa(len(b.Removed))+" ids", "must be absent unless delta is true")
	case b.Delta && (b.BaseSeq == 0 || b.BaseSeq >= b.Seq):
		return fieldErr("base_seq", strconv.FormatUint(b.BaseSeq, 10), ruleDelta)
	case len(b.Removed) > MaxRemoved:
		return fieldErr("removed", strconv.Itoa(len(b.Removed))+" ids", "must hold at most "+strconv.Itoa(MaxRemoved)+" ids")
	}
	for i, id := range b.Removed {
		if err := ValidateWorkerID(id); err != nil {
			return fmt.Errorf("removed[%d]: %w", i, err)
		}
	}
	return nil
}
