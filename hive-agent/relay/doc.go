// Package relay carries the agent's state to the queen (README: Workers): the
// heartbeat lease of STYLE §7.17, where the queen owns the TTL and answers
// each beat with the interval to the next and the agent jitters, and worker
// register, update and remove events over the same client.
//
// A heartbeat carries the worker list under the delta protocol (README:
// Heartbeat protocol; Deltas composes it): the first beat, every
// api.SnapshotEvery-th (60: five minutes at 5 s) and the one after the
// queen answered need_snapshot carry the whole list (a snapshot); the
// others only the workers new or changed since the last beat the queen
// acknowledged (acked_seq), the ids gone since, and again whatever an
// unacknowledged beat or a worker event named since. A queen that never
// acknowledges gets a snapshot every time; one older than the protocol,
// which refuses the seq field (400 INVALID_JSON), gets the beat again as
// the whole list without seq, and so the next api.SnapshotEvery beats,
// before the agent tries seq again.
//
// A heartbeat carries the node's devices with the first beat, when
// devices.Changed says they changed since the ones the queen accepted, and
// when the queen's answer asks for them (need_devices); else it leaves
// them out.
//
// After a beat that failed (the queen unreachable or 5xx) and when the
// queen asked for a snapshot, the next beat waits a random time up to the
// interval, not the interval, so that the agents of a restarted queen come
// back spread over one interval. A 503 with Retry-After (a busy queen) is
// not retried at once: the next beat waits Retry-After plus up to as much
// again at random; a worker event turned away so goes with the next beat.
//
// An agent of an HA pair of queens (the http transport) has a list of
// queen URLs (Config.QueenURLs) and sends everything to one of them. When
// that one answers 503 STANDBY naming the active queen in the
// X-Rbee-Active-Queen header, and that URL is in the list, the relay
// switches to it and sends the request there at once; a URL outside the
// list is never followed, so the hive token goes only to the configured
// queens. A queen that cannot be reached (connection refused, a timeout),
// or a standby that names no other queen of the list, moves the relay to
// the next queen of the list, round robin, for the next beat, which waits
// as a failed one does. Each switch is logged once. A queen switched to
// is treated as one that knows nothing of the agent: the next beat is a
// snapshot with the devices.
//
// The heartbeat loop never stops on a failure and logs each change of
// outcome once, not every beat: queen unreachable, hive token rejected (401
// or 403), node removed (410 Gone, code NODE_REMOVED), other refusals, and
// accepted again. While the queen says the node was removed, the workers
// keep running and the waits between beats double from the interval, with
// jitter, up to MaxRemovedBackoff; the log line names how to stop the agent
// or to add the node again. The first accepted beat brings back the queen's
// interval.
package relay
