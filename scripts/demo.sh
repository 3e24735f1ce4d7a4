#!/usr/bin/env bash
# The local demo fleet: starts 3 loopback OpenSSH hosts with testenv, shows
# them, logs in to each the way the queen will, and stops everything it
# started (also on Ctrl-C). Every command it runs is printed first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || { echo "demo: install the missing packages above, then run make demo again" >&2; exit 1; }

state=$(mktemp -d "${TMPDIR:-/tmp}/rbee-demo.XXXXXX")
say() { printf '\n$ %s\n' "$*"; }
cleanup() {
  say go run ./testenv down --state-dir "$state"
  go run ./testenv down --state-dir "$state" || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say go run ./testenv up --hosts 3 --state-dir "$state"
go run ./testenv up --hosts 3 --state-dir "$state"

say go run ./testenv status --state-dir "$state"
go run ./testenv status --state-dir "$state"

say ./bin/queen version
./bin/queen version

# Log in to each host over SSH (pinned host key, the fleet's client key).
for name in host-1 host-2 host-3; do
  say go run ./testenv run --state-dir "$state" "$name" -- 'echo "$(id -un) on '"$name"' has $(go version)"'
  go run ./testenv run --state-dir "$state" "$name" -- 'echo "$(id -un) on '"$name"' has $(go version)"'
done
