// Package install puts the hive agent on a node over one SSH connection, as
// an ordered list of titled, idempotent phases (README: What install creates):
//
//	connect → probe → fetch source → build | upload → write config →
//	start agent → wait for heartbeat → record
//
// Each phase checks what is already there and does nothing when it is right,
// so a re-run with nothing changed builds nothing, uploads nothing and keeps
// the running agent ("up to date"). New binaries are written to a temp name
// and renamed into place, so a failed or cut install never leaves a partial
// binary where the old one was. An installed binary is trusted only when it
// runs: the probe runs `hive-agent version`, and a binary that cannot run or
// names another commit is built or uploaded again.
//
// # What install creates, and what uninstall removes
//
// Everything lives under the install path P: the git checkout itself,
// P/bin/hive-agent and P/bin/rbee-worker, P/hive-agent.json (0600, holds the
// hive token), P/run/ (pid file, worker state) and P/logs/. Install uses P
// only when it is missing, empty, a checkout of the node's repository, or
// was installed before (it has a manifest); any other non-empty folder is
// refused before anything is written.
//
// Before it creates anything, install records in P/.rbee-install.json (the
// manifest) whether it created P, whether it cloned the checkout, and which
// of the paths above did not exist before. Uninstall reads that manifest and
// removes exactly what it lists: the files, P/run and P/logs whole (only the
// agent writes there), P/bin when it is empty then. The checkout goes only
// when install cloned it, --keep-source is not given, and git sees nothing
// in it but its own tracked, unchanged files (nothing untracked, ignored,
// modified or stashed); then P itself goes when install created it, else
// only its content. Anything else is kept, and uninstall says what it kept.
// Without a manifest (say, an install by an older queen) uninstall refuses
// before it stops or removes anything.
//
// The agent runs as a detached process (setsid, pid file). A systemd --user
// unit is not made: the test machines have no user systemd to prove it
// against, and a detached process with a pid file behaves the same for
// start, stop and restart. Start watches the new process while it waits for
// the first heartbeat: an agent that exits at once fails the start within
// about a second, with the tail of its log and a hint that fits it.
//
// The installed commit is the full `git rev-parse HEAD` of the checkout for
// a build (the binary is stamped with it); for an upload it is the commit
// the uploaded binary says it was built from, with a warning when that is
// not the checkout's. Install does not set the node's status: that follows
// heartbeats; its result is returned for the caller to record.
//
// Installer.Check is install --check: connect and probe as install does,
// then say what an install would do (fetch, build or upload, restart) and
// why, changing nothing. Installer.BranchHead reads the branch head with
// git ls-remote on the node, for the queen's drift check.
//
// Every remote command is built with provision.Command from validated
// fields; paths reach scripts as positional arguments ($1, $2), never pasted
// into them.
package install
