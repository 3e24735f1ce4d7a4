// Package server is the queen daemon's HTTP API (README: HTTP API): the hive
// registry routes, with the SSH validation of add-node and update-node and
// the preflight check, install, hive start/stop/status and uninstall over
// SSH, the heartbeats and worker routes of the agents, and the worker
// spawn and stop the queen asks of an agent, behind a bearer token.
//
// # Heartbeats
//
// A heartbeat carries the agent's worker list as a snapshot or as a delta
// (README: Heartbeat protocol). The queen keeps per node the agent's facts
// (version, pid, start time, listen address, capabilities), the Seq of the
// last beat it applied, and for an old agent's beat without Seq a 64-bit
// hash of its body and a checksum of the records it left: never the body
// nor a decoded worker list, which lives in the worker registry only. A
// snapshot replaces the node's records (Reconcile) and is acknowledged
// (acked_seq) when it has a Seq; a delta (changed workers, removed ids)
// is applied (ApplyDelta) and acknowledged when the queen applied its
// base_seq or a later beat of the same agent process, else applied all
// the same and answered need_snapshot: after a restart, after the stale
// check or a stop dropped the node's workers, or for a new agent process.
// A beat not newer than the last applied one of its agent (a duplicate,
// one delivered late) is left out: acknowledged again when it is that
// one. The beats of one node are applied one at a time. An old agent's
// body equal to its last one, while the node's records are as that beat
// left them, is neither decoded nor applied again: it only refreshes the
// workers' heartbeat times.
//
// At most 8 × GOMAXPROCS heartbeats are handled at once; one that finds no
// slot within 250 ms is answered 503 QUEEN_BUSY with a Retry-After picked
// at random from 1 s to the heartbeat interval, and nothing of it is
// applied: after a restart the agents spread out instead of timing out.
//
// # Devices and drift
//
// Heartbeats carry the agent's devices only when they changed; the queen
// keeps the last ones per node in memory and answers need_devices while it
// has none (after a restart). It reads each installed node's branch head with
// git ls-remote over the node's pooled connection every DriftInterval and
// at an install check (InstallRequest.Check, which changes nothing), and
// adds both to its node answers (Node.Devices, Node.BranchHead).
//
// # Errors
//
// Every error answer is an api.ErrorBody whose code says what failed and
// whose hint is the next step; a streamed operation ends with the same
// error in its last event.
//
// hive start, hive stop and uninstall keep the code of the step that
// failed: a failure of SSH itself (to connect, or a connection lost while
// a step ran) is SSH_CONNECT_FAILED, SSH_AUTH_FAILED or HOST_KEY_MISMATCH
// with the SSH hint; a step that failed on a node SSH reached (no agent
// installed, no install manifest, a script that exited non-zero) is
// HIVE_OP_FAILED with that step's hint, e.g. `queen setup install --node N`.
//
// A call to an agent (spawn, stop of a worker) is dialled up to 3 times,
// 200 ms then 400 ms apart, when the dial itself fails (refused, no route):
// nothing was sent. A request that may have arrived (a timeout after it was
// sent, a connection closed before the answer) is never sent again, and is
// AGENT_UNREACHABLE with a hint to list the node's workers first. An agent
// that could not be dialled is AGENT_UNREACHABLE too; one that answered
// something the API does not allow (not JSON, the wrong shape, an error
// without an error body) is AGENT_BAD_RESPONSE with a restart as the next
// step. All three are 502; an agent's own error body is passed on.
//
// A registry write that waits out the busy timeout for another writer's
// lock is 503 REGISTRY_BUSY with Retry-After: 1; nothing was written.
//
// # Standby
//
// With Config.Lease (an HA pair on PostgreSQL, package lease) a standby
// queen answers every route but /v1/health and /metrics, agent heartbeats
// included, with 503 STANDBY, Retry-After: 1 and the active queen's URL in
// the X-Rbee-Active-Queen header; /v1/health answers 200 on both with the
// role, epoch, active URL and lease age. A write the lease fences (this
// queen lost the lease meanwhile) is answered the same way. An install
// started on such a queen first records itself as interrupted, so a
// takeover mid-install leaves that record. The active duties (Run) are
// run by the caller only while the queen is active.
package server
