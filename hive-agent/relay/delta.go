package relay

import (
	"slices"

	"github.com/rbee-fleet/rbee/shared/api"
)

// Deltas composes an agent's heartbeats under the delta protocol (README:
// Heartbeat protocol) and learns from the queen's answers. Each beat gets
// the next Seq. A beat is a snapshot (the whole worker list) until the
// queen acknowledged one, after it asked for one (need_snapshot), and
// every api.SnapshotEvery beats; else it is a delta relative to the last
// acknowledged beat: the workers new or changed since, the ids gone since,
// and again everything a beat sent since then named (its answer may have
// been lost after the queen applied it) or a worker event named (Dirty). So a delta applied on any state the queen can be in since the
// base makes the node's records equal to the list the delta was made from.
//
// Deltas is not safe for concurrent use: the Relay calls it under its
// lock, one beat at a time. Loadgen uses it for its simulated hives.
type Deltas struct {
	every   int
	seq     uint64                // Seq of the last beat composed
	acked   uint64                // the last beat the queen applied; 0: none
	base    map[string]api.Worker // the worker list of beat acked
	pending map[string]struct{}   // ids to send again until a beat is acked
	// since counts acknowledged deltas since the last acknowledged
	// snapshot; want is set by need_snapshot until a snapshot is acked.
	since int
	want  bool
	last  sentBeat
}

// sentBeat is the beat Next composed last.
type sentBeat struct {
	seq      uint64
	snapshot bool
	list     map[string]api.Worker
}

// NewDeltas returns the composer of a new agent process: its first beat is
// a snapshot with Seq 1. every is how many beats go at most between
// snapshots (api.SnapshotEvery when < 1).
func NewDeltas(every int) *Deltas {
	if every < 1 {
		every = api.SnapshotEvery
	}
	return &Deltas{every: every, pending: map[string]struct{}{}}
}

// Next sets the worker fields of beat (Seq, Delta, BaseSeq, Workers,
// Removed) from workers, the agent's whole list now, and reports whether
// it is a snapshot.
func (d *Deltas) Next(beat *api.HeartbeatRequest, workers []api.Worker) (snapshot bool) {
	d.seq++
	list := make(map[string]api.Worker, len(workers))
	for _, w := range workers {
		list[w.ID] = w
	}
	snapshot = d.acked == 0 || d.want || d.since >= d.every-1
	d.last = sentBeat{seq: d.seq, snapshot: snapshot, list: list}
	beat.Seq, beat.Delta, beat.BaseSeq, beat.Removed = d.seq, !snapshot, 0, nil
	if snapshot {
		beat.Workers = slices.Clone(workers)
		if beat.Workers == nil {
			beat.Workers = []api.Worker{}
		}
		return true
	}
	beat.BaseSeq = d.acked
	beat.Workers = d.changed(workers)
	beat.Removed = d.removed(list)
	if len(beat.Removed) > api.MaxRemoved {
		d.want, d.seq = true, d.seq-1 // more gone than a delta may name
		return d.Next(beat, workers)
	}
	for _, w := range beat.Workers {
		d.pending[w.ID] = struct{}{}
	}
	for _, id := range beat.Removed {
		d.pending[id] = struct{}{}
	}
	return false
}

// changed returns the workers that differ from the base or are pending.
func (d *Deltas) changed(workers []api.Worker) []api.Worker {
	out := []api.Worker{}
	for _, w := range workers {
		b, ok := d.base[w.ID]
		_, again := d.pending[w.ID]
		if !ok || again || !sameWorker(b, w) {
			out = append(out, w)
		}
	}
	return out
}

// removed returns, sorted, the ids of the base or pending that list lacks.
func (d *Deltas) removed(list map[string]api.Worker) []string {
	var out []string
	for id := range d.base {
		if _, ok := list[id]; !ok {
			out = append(out, id)
		}
	}
	for id := range d.pending {
		_, inList := list[id]
		_, inBase := d.base[id]
		if !inList && !inBase {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Answer takes the queen's answer to the beat Next composed last; ok is
// false when none came (a failure or a refusal). An acknowledged beat
// becomes the base of the next deltas.
func (d *Deltas) Answer(ans api.HeartbeatResponse, ok bool) {
	if !ok {
		return
	}
	if ans.AckedSeq != 0 && ans.AckedSeq == d.last.seq {
		d.acked, d.base = d.last.seq, d.last.list
		clear(d.pending)
		if d.last.snapshot {
			d.since, d.want = 0, false
		} else {
			d.since++
		}
	}
	if ans.NeedSnapshot {
		d.want = true
	}
}

// Dirty marks worker id to go with every beat until one is acknowledged:
// an event about it was relayed (or failed to be) since the base, so the
// queen may hold it otherwise than the base says — even a worker the base
// never had, which the delta must then name as removed when it is gone.
func (d *Deltas) Dirty(id string) { d.pending[id] = struct{}{} }

// Resync makes the next beat a snapshot, and every one after until the
// queen acknowledges one.
func (d *Deltas) Resync() { d.want = true }

// Acked returns the Seq of the last beat the queen applied (0: none).
func (d *Deltas) Acked() uint64 { return d.acked }

// sameWorker reports whether a and b are equal, comparing ExitCode by
// value.
func sameWorker(a, b api.Worker) bool {
	if (a.ExitCode == nil) != (b.ExitCode == nil) || a.ExitCode != nil && *a.ExitCode != *b.ExitCode {
		return false
	}
	a.ExitCode, b.ExitCode = nil, nil
	return a == b
}
