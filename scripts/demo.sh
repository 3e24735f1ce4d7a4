#!/usr/bin/env bash
# The local demo fleet: starts 3 loopback OpenSSH hosts with testenv and a
# queen on a temporary data dir, registers every host with
# `queen setup add-node`, preflights one, installs the hive agent on all of
# them (git clone + go build on each host), shows their status, spawns one
# reference worker per node, lists the workers, sends one completion to a
# worker through its URL, stops one worker, stops and starts one agent
# (stopped, then online), uninstalls one node next to a file of the user's
# (which stays), then stops everything it started (also on Ctrl-C). Every
# command it runs is printed first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || { echo "demo: install the missing packages above, then run make demo again" >&2; exit 1; }
[[ -x bin/queen ]] || { echo "demo: bin/queen is missing: run make demo (it builds first)" >&2; exit 1; }

state=$(mktemp -d "${TMPDIR:-/tmp}/rbee-demo.XXXXXX")
queen_pid=""
say() { printf '\n$ %s\n' "$*"; }
run() { printf '\n$'; printf ' %q' "$@"; printf '\n'; "$@"; }
cleanup() {
  if [[ -n ${RBEE_QUEEN_URL:-} ]]; then
    for name in host-1 host-2 host-3; do
      say ./bin/queen setup uninstall --node "$name"
      ./bin/queen setup uninstall --node "$name" >/dev/null 2>&1 || true
    done
  fi
  if [[ -n $queen_pid ]]; then
    say kill -TERM "$queen_pid" "# stop queen serve"
    kill -TERM "$queen_pid" 2>/dev/null || true
    wait "$queen_pid" 2>/dev/null || true
  fi
  say go run ./testenv down --state-dir "$state/fleet"
  go run ./testenv down --state-dir "$state/fleet" || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say go run ./testenv up --hosts 3 --state-dir "$state/fleet"
go run ./testenv up --hosts 3 --state-dir "$state/fleet" | tee "$state/up.txt"

export RBEE_HOME="$state/queen"
say RBEE_HOME="$RBEE_HOME" ./bin/queen serve --listen 127.0.0.1:0 "&"
./bin/queen serve --listen 127.0.0.1:0 2>"$state/queen.log" &
queen_pid=$!
for _ in $(seq 100); do
  url=$(grep -o 'listening on http://[0-9.:]*' "$state/queen.log" | cut -d' ' -f3 || true)
  [[ -n $url ]] && break
  kill -0 "$queen_pid" 2>/dev/null || { cat "$state/queen.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n $url ]] || { echo "demo: queen did not start; its log:" >&2; cat "$state/queen.log" >&2; exit 1; }
export RBEE_QUEEN_URL=$url
echo "queen is at $url (data dir $RBEE_HOME); the commands below use RBEE_QUEEN_URL and RBEE_HOME"

# Register every host with the flags testenv printed for it.
while read -r -a flags; do
  run ./bin/queen setup add-node "${flags[@]}"
done < <(sed -n 's/^queen setup add-node //p' "$state/up.txt")

run ./bin/queen setup preflight --node host-1
run ./bin/queen setup install --all
run ./bin/queen setup install --all   # again: nothing to do, every node is up to date
run ./bin/queen hive status --node host-1
run ./bin/queen setup list-nodes

for name in host-1 host-2 host-3; do
  run ./bin/queen workers spawn --node "$name" --model hf:rbee/demo-tiny --ready-timeout 1m
done
run ./bin/queen workers list
run ./bin/queen workers list --node host-2 --state idle

worker_url=$(./bin/queen --json workers list --node host-1 | grep -o '"url": *"[^"]*"' | head -1 | cut -d'"' -f4)
worker_id=$(./bin/queen --json workers list --node host-1 | grep -o '"worker_id": *"[^"]*"' | head -1 | cut -d'"' -f4)
# The gateway: one endpoint for the fleet, with a client key (not the
# admin token).
say ./bin/queen keys create --name demo
api_key=$(./bin/queen keys create --name demo)
run curl -sS --max-time 10 -H "Authorization: Bearer $api_key" -H 'Content-Type: application/json' \
  -d '{"model":"hf:rbee/demo-tiny","prompt":"Why do bees dance?","max_tokens":12}' "$url/v1/completions"
echo
run ./bin/queen workers stop --id "$worker_id"
run ./bin/queen workers list

# Statuses follow what is observed: stop shows stopped at once, start
# shows online when the agent's first heartbeat arrives.
run ./bin/queen hive stop --node host-3
run ./bin/queen setup list-nodes
run ./bin/queen hive start --node host-3
run ./bin/queen setup list-nodes

# Uninstall removes only what install recorded that it created: a file of
# the user's in the install path stays.
install_dir=$(sed -n 's/^queen setup add-node --name host-2 .*--install-path \([^ ]*\).*/\1/p' "$state/up.txt")
say echo "my notes" ">" "$install_dir/notes.txt"
echo "my notes" > "$install_dir/notes.txt"
run ./bin/queen setup uninstall --node host-2
run ls -A "$install_dir"

# Last: a streamed answer through the gateway. The stop and the uninstall
# above ended the other workers; host-3's agent runs again, so it gets one.
run ./bin/queen workers spawn --node host-3 --model hf:rbee/demo-tiny --ready-timeout 1m
run ./bin/queen chat --key "$api_key" --model hf:rbee/demo-tiny "Why do bees dance?"
echo
echo "demo: done; stopping everything it started"

