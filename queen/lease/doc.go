// Package lease decides which of several queens sharing one PostgreSQL
// database is active. [Start] is its entry point.
//
// Every queen competes for a session advisory lock (pg_try_advisory_lock)
// held on a dedicated connection, plus the row id=1 of the table
// queen_lease (epoch, holder, holder_url, renewed_at), which Start creates.
// The queen that gets the lock adds one to the epoch and is active under
// that epoch; the others are standby and poll the lock every poll interval.
//
// The active queen renews renewed_at at every poll. When it cannot renew
// for the lease time (TTL), when its renewal finds another epoch, or when
// [Lease.Fence] finds another epoch, it steps down: the context given to
// Config.OnActive ends and the log says so. A holder whose last renewal is
// older than TTL reports standby (Status, Active) and is fenced at once,
// before its loop runs again (after a pause). Its lock connection runs with
// idle_session_timeout = TTL, so a paused queen (SIGSTOP, a long GC) loses
// the lock on the server side after TTL and a standby takes over.
//
// Fencing: the store calls [Lease.Fence] inside every write transaction.
// Fence reads the epoch FOR SHARE and refuses the write with [ErrFenced]
// unless it is this queen's. A takeover updates the same row, so a paused
// queen's write either commits before the takeover or is refused after it.
package lease
