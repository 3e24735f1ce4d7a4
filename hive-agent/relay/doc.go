// Package relay carries the agent's state to the queen (DESIGN §6). For now
// that is the heartbeat lease of STYLE §7.17: the queen owns the TTL and
// answers each beat with the interval to the next; the agent jitters.
// Worker register, update and remove come later over the same client.
package relay
