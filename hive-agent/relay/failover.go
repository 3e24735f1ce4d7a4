package relay

import (
	"context"
	"errors"
	"slices"
)

// failover moves the relay to another queen of its list after a request
// to the current one ended with err, and reports whether the request
// should go at once to the new current queen: when a standby named the
// active queen (X-Rbee-Active-Queen) and that queen is in the list. A URL
// outside the list is never followed: the hive token goes only to the
// queens of the agent's config. A queen that could not be reached, or a
// standby that named no queen of the list, moves the relay to the next
// queen (round robin) for the next request, which waits as a failed one
// does. Each switch is logged once; the rotations of one outage after the
// first at debug level. The new queen is treated as one that knows
// nothing of this agent: the next beat is a snapshot with the devices.
// The caller holds h.mu.
func (h *Relay) failover(ctx context.Context, err error) (follow bool) {
	if err == nil {
		h.rotating = false
		return false
	}
	if len(h.queens) < 2 || ctx.Err() != nil {
		return false
	}
	from := h.queens[h.cur]
	se, _ := errors.AsType[*StatusError](err)
	if IsStandby(err) {
		if i := slices.Index(h.queens, se.ActiveQueen); i >= 0 && i != h.cur {
			h.switchTo(i)
			h.rotating = false
			h.log.Info("queen at "+from+" is standby; following the active queen at "+h.queens[i], "queen", h.queens[i])
			return true
		}
		h.rotate("queen at "+from+" is standby and names no other queen of queen_urls", "named", se.ActiveQueen)
		return false
	}
	if _, ok := errors.AsType[*UnreachableError](err); ok {
		h.rotate("queen at "+from+" unreachable", "err", err)
	}
	return false
}

// rotate moves to the next queen of the list and logs why, at info level
// the first time of an outage. The caller holds h.mu.
func (h *Relay) rotate(why string, kv ...any) {
	h.switchTo((h.cur + 1) % len(h.queens))
	msg := why + "; trying the next queen at " + h.queens[h.cur]
	if h.rotating {
		h.log.Debug(msg, kv...)
		return
	}
	h.rotating = true
	h.log.Info(msg, kv...)
}

// switchTo makes queen i the current one, which knows nothing of this
// agent yet: the next beat is a snapshot and carries the devices. The
// caller holds h.mu.
func (h *Relay) switchTo(i int) {
	h.cur = i
	h.deltas.Resync()
	h.sent = nil
}
