// Package relay carries the agent's state to the queen (README: Workers): the
// heartbeat lease of STYLE §7.17, where the queen owns the TTL and answers
// each beat with the interval to the next and the agent jitters, and worker
// register, update and remove events over the same client.
//
// A heartbeat carries the node's devices with the first beat, when
// devices.Changed says they changed since the ones the queen accepted, and
// when the queen's answer asks for them (need_devices); else it leaves
// them out, so an unchanged beat is the same bytes as the one before.
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
