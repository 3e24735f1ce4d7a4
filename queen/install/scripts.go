package install

// The remote scripts. They are constants: every value they need arrives as a
// positional argument ($1, $2, …) quoted by provision.Command.

// probeScript prints key=value lines about the node: the system, the tools,
// the install path $1 (missing, empty or not, which of the paths $5 exist,
// the install manifest), the agent installed there (the version its binary
// prints when run, so a binary that cannot run is seen), and whether its
// checkout is a clean copy of branch $3 of repository $2 at that branch's
// head (then fetch has nothing to do); with $4 = "sha" also the stat and
// SHA-256 of the installed binaries, the hash only of those whose stat is
// not $6 (agent) or $7 (worker), see hashFunction. One session answers all
// an up-to-date re-run needs, and it starts few processes: each costs
// about 10 ms on a small VM (and the nodes of a test fleet share the
// queen's cores), so what the shell can do itself (dirname, ls -A,
// head -n 1, cut) it does, one process hashes both binaries, and one git
// status gives the checkout's branch, commit and cleanliness.
const probeScript = `p=$1 url=$2 branch=$3 nl='
'
echo "os_arch=$(uname -sm)"
echo "home=$HOME"
echo "user=${USER:-$(id -un)}"
echo "git=$(git --version 2>/dev/null)"
echo "go=$(go version 2>/dev/null)"
d=$p; while [ ! -e "$d" ]; do case $d in */*) d=${d%/*}; d=${d:-/} ;; *) d=. ;; esac; done
df -Pk "$d" 2>/dev/null | { read -r _; read -r _ _ _ f _; echo "free_kib=$f"; }
if [ -d "$d" ] && [ -w "$d" ]; then echo writable=yes; else echo writable=no; fi
nonempty() { for x in "$1"/* "$1"/.[!.]* "$1"/..?*; do if [ -e "$x" ] || [ -L "$x" ]; then return 0; fi; done; return 1; }
if [ ! -e "$p" ] && [ ! -L "$p" ]; then echo dir=missing
elif [ ! -d "$p" ]; then echo dir=notdir
elif ! nonempty "$p"; then echo dir=empty
else echo dir=nonempty; fi
o=
if [ -d "$p/.git" ]; then
  echo checkout=yes
  o=$(git -C "$p" config --get remote.origin.url 2>/dev/null)
  echo "origin=$o"
else echo checkout=no; fi
e=; for f in $5; do if [ -e "$p/$f" ] || [ -L "$p/$f" ]; then e="$e $f"; fi; done
echo "exists=$e"
m=; [ -f "$p/` + ManifestName + `" ] && m=$(head -c 8192 "$p/` + ManifestName + `")
case $m in *"$nl"*) m=$(printf %s "$m" | tr -d '\n') ;; esac
echo "manifest=$m"
` + agentFunctions + `echo "pid=$(agent_pid "$p")"
v=; [ -f "$p/bin/hive-agent" ] && [ -x "$p/bin/hive-agent" ] && v=$("$p/bin/hive-agent" version 2>/dev/null)
echo "binary=${v%%"$nl"*}"
if [ -f "$p/bin/rbee-worker" ] && [ -x "$p/bin/rbee-worker" ]; then echo worker_x=yes; fi
` + hashFunction + `[ "$4" = sha ] && hashes "$p" "$6" "$7"
if [ -d "$p/.git" ] && command -v git >/dev/null; then
  s=$(git -C "$p" status --porcelain=v2 --branch --untracked-files=no 2>/dev/null)
  h= b= dirty=
  while IFS= read -r l; do
    case $l in
      "# branch.oid "*) h=${l#"# branch.oid "} ;;
      "# branch.head "*) b=${l#"# branch.head "} ;;
      "#"*|"") ;;
      *) dirty=yes ;;
    esac
  done <<END
$s
END
  if [ "$b" = "$branch" ] && [ "$o" = "$url" ] && [ -z "$dirty" ] && [ ${#h} -eq 40 ]; then
    r=$(git -C "$p" ls-remote "$url" "refs/heads/$branch" 2>/dev/null)
    case $r in *"$nl"*) ;; "$h	"*) echo "current=$h" ;; esac
  fi
fi`

// hashFunction is the shell function hashes: for install path $1 it prints
// what stat says of each installed binary (binary_stat=, worker_stat=:
// inode, size, mtime, ctime; a write, chmod or rename changes the ctime,
// which no user can set) and its SHA-256 (binary_sha256=, worker_sha256=),
// except for a binary whose stat is the one given ($2 for the agent, $3
// for the worker): the queen hashed that file already and knows its hash.
// The others are hashed by one process (see sumFunction).
const hashFunction = sumFunction + `hashes() {
  a="$1/bin/hive-agent" w="$1/bin/rbee-worker" ka=$2 kw=$3
  set --
  [ -f "$a" ] && set -- "$a"
  [ -f "$w" ] && set -- "$@" "$w"
  [ $# -gt 0 ] || return 0
  st=$(stat -L -c '%i %s %.9Y %.9Z %n' -- "$@" 2>/dev/null)
  if [ -n "$st" ]; then
    set --
    while read -r i s m c n; do
      case $n in "$a") k=$ka x=binary ;; "$w") k=$kw x=worker ;; *) continue ;; esac
      echo "${x}_stat=$i $s $m $c"
      [ "$i $s $m $c" = "$k" ] || set -- "$@" "$n"
    done <<END
$st
END
  fi
  [ $# -gt 0 ] || return 0
  sum "$@" | while read -r s f; do
    s=${s#"\\"} f=${f#"*"}
    case $f in "$a") echo "binary_sha256=$s" ;; "$w") echo "worker_sha256=$s" ;; esac
  done
}
`

// sumFunction is the shell function sum: the SHA-256 of files $@, one
// "hash file" line each, by openssl when the node has it (it uses the
// CPU's SHA instructions, about 3 times as fast as coreutils' sha256sum),
// else by sha256sum.
const sumFunction = `sum() {
  if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$@"; else sha256sum -- "$@"; fi
}
`

// fetchScript makes $1 a checkout of branch $3 of repository $2 at its
// newest commit and prints that commit. Install's own files (bin/, run/,
// logs/, the config, the manifest) are kept out of git's view: the lines
// are added to .git/info/exclude when missing, the rest of it is kept.
const fetchScript = `set -e
p=$1 url=$2 branch=$3
if [ -d "$p/.git" ]; then
  git -C "$p" remote set-url origin "$url"
  git -C "$p" fetch --quiet origin "+refs/heads/$branch:refs/remotes/origin/$branch"
  git -C "$p" checkout --quiet --force -B "$branch" "refs/remotes/origin/$branch"
else
  git clone --quiet --branch "$branch" -- "$url" "$p"
fi
x="$p/.git/info/exclude"
mkdir -p "$p/.git/info"
for l in /bin/ /run/ /logs/ /hive-agent.json /` + ManifestName + `; do
  grep -qxF -- "$l" "$x" 2>/dev/null || echo "$l" >> "$x"
done
git -C "$p" rev-parse HEAD`

// buildScript builds ./hive-agent and the reference worker
// ./hive-agent/rbee-worker in checkout $1 with version $2 (the full commit)
// into a temp folder $3 under $1/bin, renames them over $1/bin/hive-agent
// and $1/bin/rbee-worker, and prints what the new agent says its version
// is: the binary is checked by running it.
const buildScript = `set -e
p=$1 version=$2 tmp=$3
mkdir -p "$p/bin/$tmp"
cd "$p"
trap 'rm -rf "$p/bin/$tmp"' EXIT
go build -trimpath -ldflags "-X github.com/rbee-fleet/rbee/shared/version.Version=$version" -o "$p/bin/$tmp/" ./hive-agent ./hive-agent/rbee-worker
mv -f "$p/bin/$tmp/rbee-worker" "$p/bin/rbee-worker"
mv -f "$p/bin/$tmp/hive-agent" "$p/bin/hive-agent"
"$p/bin/hive-agent" version`

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

// stopScript stops the agent of $1: SIGTERM, up to 15 s, then SIGKILL. It
// prints the pid it stopped (stopped=), the tenths of a second it waited
// (waited=), and killed=yes when SIGTERM was not enough.
const stopScript = agentFunctions + `p=$1
pid=$(agent_pid "$p")
i=0
if [ -n "$pid" ]; then
  kill -TERM "$pid" 2>/dev/null || true
  while ! gone "$pid" && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
  if ! gone "$pid"; then kill -KILL "$pid" 2>/dev/null || true; echo killed=yes; fi
fi
rm -f "$p/run/hive-agent.pid"
echo "waited=$i"
echo "stopped=$pid"`

// startScript starts the agent of $1 detached from the SSH session, with
// its output appended to $1/logs/hive-agent.log, and prints its pid
// (setsid and nohup exec the agent in the same process).
const startScript = `p=$1
mkdir -p "$p/logs" "$p/run"
cd "$p"
setsid nohup "$p/bin/hive-agent" serve --config "$p/hive-agent.json" </dev/null >>"$p/logs/hive-agent.log" 2>&1 &
echo "pid=$!"`

// goneScript prints gone=yes when process $1 no longer runs (or is a
// zombie), else gone=no.
const goneScript = agentFunctions + `if gone "$1"; then echo gone=yes; else echo gone=no; fi`

// placeScript puts binaries uploaded to temp files in $1/bin in place.
// Each further argument is tmp:name:sha256. It checks every temp file's
// SHA-256 with one process (see sumFunction); on a mismatch it removes them all and prints
// bad=<tmp> and got=<its SHA-256>. Else it renames each (executable
// already) over $1/bin/<name> in the order given, removes the build stamp of
// older queens and prints the first line of what the agent binary says its
// version is (version=, empty when it cannot run).
const placeScript = sumFunction + `b=$1/bin nl='
'
shift
t=; for e in "$@"; do t="$t ./${e%%:*}"; done
sums=$(cd "$b" && sum $t 2>/dev/null)
for e in "$@"; do
  f=${e%%:*} w=${e##*:}
  g=; while read -r s n; do if [ "${n#"*"}" = "./$f" ]; then g=$s; fi; done <<END
$sums
END
  [ "$g" = "$w" ] && continue
  (cd "$b" && rm -f -- $t)
  echo "bad=$f"
  echo "got=$g"
  exit 0
done
for e in "$@"; do
  f=${e%%:*} r=${e#*:}
  mv -f "$b/$f" "$b/${r%%:*}" || exit 1
done
rm -f "$b/hive-agent.version"
v=$("$b/hive-agent" version 2>/dev/null)
echo "version=${v%%"$nl"*}"`

// logTailScript prints the last lines of the agent's log.
const logTailScript = `tail -n 20 "$1/logs/hive-agent.log" 2>/dev/null`

// manifestScript prints the install manifest of $1 (manifest=, empty when
// there is none).
const manifestScript = `m=; [ -f "$1/` + ManifestName + `" ] && m=$(head -c 8192 "$1/` + ManifestName + `" | tr -d '\n')
echo "manifest=$m"`

// uninstallScript removes from install path $1 exactly what the manifest
// says install created, passed as $5…: "f:path" files, "t:path" folders
// the agent fills (removed whole), "d:path" folders (removed when empty).
// With $2 = all and $3 = yes (install cloned the checkout) the checkout
// goes too, but only when git sees nothing in it but its own files
// (nothing untracked, ignored, changed or stashed): the install path
// itself when install created it ($4 = yes), else its content. The
// manifest goes last. It prints what it kept: kept_dir=, kept_checkout=
// (why), kept= (what is left in the install path).
const uninstallScript = `p=$1 what=$2 cloned=$3 created_dir=$4 m=` + ManifestName + `
shift 4
[ -d "$p" ] || { echo missing=yes; exit 0; }
for e in "$@"; do
  k=${e%%:*} f=${e#*:}
  case $k in
    f) rm -f -- "$p/$f" ;;
    t) rm -rf -- "$p/$f" ;;
    d) [ -e "$p/$f" ] && { rmdir -- "$p/$f" 2>/dev/null || echo "kept_dir=$f"; } ;;
  esac
done
if [ "$what" = all ] && [ "$cloned" = yes ] && [ -d "$p/.git" ]; then
  st=$({ git -C "$p" status --porcelain --ignored --untracked-files=all && git -C "$p" stash list; } 2>&1 |
    grep -vxF "!! $m" | head -n 5 | tr '\n' ';')
  if [ -n "$st" ]; then
    echo "kept_checkout=$st"
  elif [ "$created_dir" = yes ]; then
    rm -rf -- "$p"; echo removed_checkout=yes; exit 0
  else
    find "$p" -mindepth 1 -maxdepth 1 ! -name "$m" -exec rm -rf -- {} +; echo removed_checkout=yes
  fi
fi
rm -f -- "$p/$m"
if [ "$created_dir" = yes ] && rmdir -- "$p" 2>/dev/null; then exit 0; fi
echo "kept=$(ls -A "$p" | head -n 10 | tr '\n' ' ')"`
