package install

// The remote scripts. They are constants: every value they need arrives as a
// positional argument ($1, $2, …) quoted by provision.Command.

// probeScript prints key=value lines about the node: the system, the tools,
// the install path $1, the agent installed there, and whether its checkout
// is a clean copy of branch $3 of repository $2 at that branch's head (then
// fetch has nothing to do); with $4 = "sha" also the SHA-256 of the
// installed binary. One session answers all an up-to-date re-run needs, and
// it starts few processes: each costs about 10 ms on a small VM.
const probeScript = `p=$1 url=$2 branch=$3
echo "os_arch=$(uname -sm)"
echo "home=$HOME"
echo "user=$(id -un)"
echo "git=$(git --version 2>/dev/null)"
echo "go=$(go version 2>/dev/null)"
d=$p; while [ ! -e "$d" ]; do d=$(dirname "$d"); done
echo "free_kib=$(df -Pk "$d" | awk 'NR==2 {print $4}')"
if [ -d "$d" ] && [ -w "$d" ]; then echo writable=yes; else echo writable=no; fi
if [ -d "$p/.git" ]; then echo checkout=yes; else echo checkout=no; fi
` + agentFunctions + `echo "pid=$(agent_pid "$p")"
v=; [ -r "$p/bin/hive-agent.version" ] && read -r v < "$p/bin/hive-agent.version"
echo "binary=$v"
if [ "$4" = sha ] && [ -f "$p/bin/hive-agent" ]; then
  echo "binary_sha256=$(sha256sum "$p/bin/hive-agent" | cut -c1-64)"
fi
if [ "$4" = sha ] && [ -f "$p/bin/rbee-worker" ]; then
  echo "worker_sha256=$(sha256sum "$p/bin/rbee-worker" | cut -c1-64)"
fi
if [ -d "$p/.git" ] && command -v git >/dev/null; then
  set -- $(git -C "$p" rev-parse HEAD --abbrev-ref HEAD 2>/dev/null)
  if [ "$2" = "$branch" ] && [ "$(git -C "$p" config --get remote.origin.url)" = "$url" ] &&
     [ -z "$(git -C "$p" status --porcelain --untracked-files=no 2>/dev/null)" ] &&
     [ "$(git -C "$p" ls-remote "$url" "refs/heads/$branch" 2>/dev/null | cut -f1)" = "$1" ]; then
    echo "current=$1"
  fi
fi`

// fetchScript makes $1 a checkout of branch $3 of repository $2 at its
// newest commit and prints that commit. Install's own files (bin/, run/,
// logs/, the config) are kept out of git's view.
const fetchScript = `set -e
p=$1 url=$2 branch=$3
if [ -d "$p/.git" ]; then
  git -C "$p" remote set-url origin "$url"
  git -C "$p" fetch --quiet origin "+refs/heads/$branch:refs/remotes/origin/$branch"
  git -C "$p" checkout --quiet --force -B "$branch" "refs/remotes/origin/$branch"
else
  git clone --quiet --branch "$branch" -- "$url" "$p"
fi
printf '/bin/\n/run/\n/logs/\n/hive-agent.json\n' > "$p/.git/info/exclude"
git -C "$p" rev-parse HEAD`

// buildScript builds ./hive-agent and the reference worker
// ./hive-agent/rbee-worker in checkout $1 with version $2 into a temp folder
// $3 under $1/bin and renames them over $1/bin/hive-agent and
// $1/bin/rbee-worker.
const buildScript = `set -e
p=$1 version=$2 tmp=$3
mkdir -p "$p/bin/$tmp"
cd "$p"
trap 'rm -rf "$p/bin/$tmp"' EXIT
go build -trimpath -ldflags "-X github.com/rbee-fleet/rbee/shared/version.Version=$version" -o "$p/bin/$tmp/" ./hive-agent ./hive-agent/rbee-worker
mv -f "$p/bin/$tmp/rbee-worker" "$p/bin/rbee-worker"
mv -f "$p/bin/$tmp/hive-agent" "$p/bin/hive-agent"
echo "$version" > "$p/bin/hive-agent.version"`

// agentFunctions are shell functions shared by the agent scripts: the pid of
// the running agent of install path $1 (nothing when none runs; a zombie
// does not run), and a wait for a pid to go.
const agentFunctions = `agent_pid() {
  f="$1/run/hive-agent.pid"
  [ -r "$f" ] || return 0
  read -r pid < "$f" || return 0
  case $pid in ''|*[!0-9]*) return 0 ;; esac
  gone "$pid" && return 0
  grep -qF -- "$1/hive-agent.json" "/proc/$pid/cmdline" 2>/dev/null || return 0
  echo "$pid"
}
gone() {
  [ -r "/proc/$1/stat" ] || return 0
  read -r stat < "/proc/$1/stat" || return 0
  case ${stat##*) } in Z*|X*) return 0 ;; esac
  return 1
}
`

// agentStateScript prints the pid of the running agent of $1 (or nothing)
// and whether a binary is installed.
const agentStateScript = agentFunctions + `p=$1
echo "pid=$(agent_pid "$p")"
if [ -x "$p/bin/hive-agent" ]; then echo installed=yes; else echo installed=no; fi`

// stopScript stops the agent of $1: SIGTERM, up to 15 s, then SIGKILL.
const stopScript = agentFunctions + `p=$1
pid=$(agent_pid "$p")
if [ -n "$pid" ]; then
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while ! gone "$pid" && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
  gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$p/run/hive-agent.pid"
echo "stopped=$pid"`

// startScript starts the agent of $1 detached from the SSH session, with
// its output appended to $1/logs/hive-agent.log.
const startScript = `p=$1
mkdir -p "$p/logs" "$p/run"
cd "$p"
setsid nohup "$p/bin/hive-agent" serve --config "$p/hive-agent.json" </dev/null >>"$p/logs/hive-agent.log" 2>&1 &
echo started`

// logTailScript prints the last lines of the agent's log.
const logTailScript = `tail -n 20 "$1/logs/hive-agent.log" 2>/dev/null`

// uninstallScript removes what install made under $1; with $2 = "all" the
// whole install path goes, checkout included.
const uninstallScript = `p=$1 what=$2
rm -rf "$p/bin" "$p/run" "$p/logs" "$p/hive-agent.json"
if [ "$what" = all ]; then rm -rf "$p"; fi
echo removed`
