// Package install puts the hive agent on a node over one SSH connection, as
// an ordered list of titled, idempotent phases (DESIGN §5):
//
//	connect → probe → fetch source → build | upload → write config →
//	start agent → wait for heartbeat → record
//
// Each phase checks what is already there and does nothing when it is right,
// so a re-run with nothing changed builds nothing, uploads nothing and keeps
// the running agent ("up to date"). New binaries are written to a temp name
// and renamed into place, so a failed or cut install never leaves a partial
// binary where the old one was.
//
// On the node, everything lives under the install path P: the git checkout
// itself, P/bin/hive-agent, P/hive-agent.json (0600, holds the hive token),
// P/run/hive-agent.pid and P/logs/hive-agent.log. The agent runs as a
// detached process (setsid, pid file). A systemd --user unit is not made:
// the test machines have no user systemd to prove it against, and a detached
// process with a pid file behaves the same for start, stop and restart.
//
// Every remote command is built with provision.Command from validated
// fields; paths reach scripts as positional arguments ($1, $2), never pasted
// into them.
package install
