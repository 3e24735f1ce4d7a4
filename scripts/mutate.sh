#!/usr/bin/env bash
# make mutate: check that the tests catch the faults listed in
# scripts/mutations.txt. Each fault is a one-line change of the code (an
# exact text, unique in its file, and what replaces it) with the package
# whose tests must catch it. The working tree as it is now (tracked and
# untracked files, not ignored ones) is copied to a temporary folder once;
# every fault is applied there, that package's tests run (go test -count=1,
# with the fault's -run filter when it has one, and a timeout), and the file
# is put back. The working tree itself is never written to.
#
# A fault is caught when the tests fail. The tests of every package (and
# filter) are first run once without any fault: a fault whose tests fail
# anyway is reported as such, not as caught. A fault whose text is not in
# its file exactly once, or whose change does not compile, is reported as
# broken: fix the list.
#
# Prints caught/total and the faults that survived; exits 1 unless every
# fault was caught.
#
#   MUTATE_ONLY=regex     only the faults whose name matches
#   MUTATE_TIMEOUT=10m    go test -timeout of one run
#   MUTATIONS=file        another fault list
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

root=$(cd "$(dirname "$0")/.." && pwd)
list=${MUTATIONS:-$root/scripts/mutations.txt}
only=${MUTATE_ONLY:-}
timeout=${MUTATE_TIMEOUT:-10m}
GO=${GO:-go}

die() { echo "mutate: $*" >&2; exit 2; }
[[ -r $list ]] || die "no fault list at $list"

# unescape turns ⏎ of a list value into a newline and ⇥ into a tab (no
# Go file here has either), so a snippet can span lines.
unescape() { local v=${1//⏎/$'\n'}; printf '%s' "${v//⇥/$'\t'}"; }

# --- read the list: records of key: value lines, separated by blank lines.
names=() files=() finds=() replaces=() pkgs=() runs=()
add_record() {
  [[ -z ${rec[fault]:-} ]] && return 0
  local k
  for k in file find replace pkg; do
    [[ -n ${rec[$k]+x} ]] || die "fault ${rec[fault]}: no '$k:' line"
  done
  names+=("${rec[fault]}") files+=("${rec[file]}") finds+=("${rec[find]}")
  replaces+=("${rec[replace]}") pkgs+=("${rec[pkg]}") runs+=("${rec[run]:-}")
}
declare -A rec=()
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
  lineno=$((lineno + 1))
  [[ $line =~ ^[[:space:]]*# ]] && continue
  if [[ -z ${line//[[:space:]]/} ]]; then
    add_record; rec=(); continue
  fi
  [[ $line =~ ^([a-z]+):\ ?(.*)$ ]] || die "$list:$lineno: want 'key: value', got: $line"
  key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
  case $key in
    fault|file|find|replace|pkg|run) rec[$key]=$value ;;
    *) die "$list:$lineno: unknown key '$key' (fault, file, find, replace, pkg, run)" ;;
  esac
done < "$list"
add_record
[[ ${#names[@]} -gt 0 ]] || die "no faults in $list"

# --- the copy of the tree, a git checkout of its own (the test fleets serve
# the checkout they run in).
work=$(mktemp -d "${TMPDIR:-/tmp}/rbee-mutate.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir "$tree"
(cd "$root" && git ls-files -z -co --exclude-standard) |
  tar -C "$root" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$tree" -xf -
git -C "$tree" init -q
echo "mutate: copied the working tree to $tree"

# run_tests pkg run log: the package's tests in the copy; returns go test's status.
run_tests() {
  local args=(test -count=1 -timeout "$timeout" "$1")
  [[ -n $2 ]] && args+=(-run "$2")
  (cd "$tree" && RBEE_REQUIRE_INTEGRATION=1 "$GO" "${args[@]}") >"$3" 2>&1
}

selected=()
for i in "${!names[@]}"; do
  [[ -z $only || ${names[$i]} =~ $only ]] && selected+=("$i")
done
[[ ${#selected[@]} -gt 0 ]] || die "no fault matches MUTATE_ONLY=$only"

# --- baseline: every package and filter once without a fault.
declare -A baseline=()
for i in "${selected[@]}"; do
  key="${pkgs[$i]} ${runs[$i]}"
  [[ -n ${baseline[$key]+x} ]] && continue
  if run_tests "${pkgs[$i]}" "${runs[$i]}" "$work/baseline.log"; then
    baseline[$key]=ok
  else
    baseline[$key]=failing
    echo "mutate: the tests of '$key' fail without any fault:"; tail -n 20 "$work/baseline.log" | sed 's/^/    /'
  fi
done

# --- the faults.
caught=0 total=0
survivors=() broken=() unjudged=()
for i in "${selected[@]}"; do
  name=${names[$i]} file=${files[$i]} pkg=${pkgs[$i]} run=${runs[$i]}
  find=$(unescape "${finds[$i]}") replace=$(unescape "${replaces[$i]}")
  total=$((total + 1))
  path=$tree/$file
  if [[ ! -f $path ]]; then
    broken+=("$name: no file $file"); echo "BROKEN   $name: no file $file"; continue
  fi
  original=$(cat "$path"; printf x) original=${original%x}
  rest=${original#*"$find"}
  if [[ $rest == "$original" ]]; then
    broken+=("$name: text not found in $file"); echo "BROKEN   $name: text not found in $file"; continue
  fi
  if [[ $rest == *"$find"* ]]; then
    broken+=("$name: text found more than once in $file"); echo "BROKEN   $name: text found more than once in $file"; continue
  fi
  if [[ ${baseline["$pkg $run"]} != ok ]]; then
    unjudged+=("$name: the tests of $pkg fail without it"); echo "UNJUDGED $name: the tests of $pkg fail without it"; continue
  fi
  printf '%s' "${original%%"$find"*}$replace$rest" > "$path"
  log=$work/$name.log
  if ! (cd "$tree" && "$GO" vet "./$(dirname "$file")") >"$log" 2>&1; then
    broken+=("$name: the change does not compile (or fails go vet)")
    echo "BROKEN   $name: the change does not compile (or fails go vet):"; tail -n 5 "$log" | sed 's/^/    /'
  elif run_tests "$pkg" "$run" "$log"; then
    survivors+=("$name ($file; $pkg${run:+ -run $run})")
    echo "SURVIVED $name"
  else
    caught=$((caught + 1))
    # The first test failure, as evidence of what caught it.
    why=$(grep -m1 -E '^\s+\S+_test\.go:[0-9]+: |^panic: |^FAIL\s' "$log" | sed 's/^[[:space:]]*//' | cut -c1-150 || true)
    echo "caught   $name: $why"
  fi
  printf '%s' "$original" > "$path"
done

echo
echo "mutate: caught $caught/$total"
for s in ${survivors[@]+"${survivors[@]}"}; do echo "  survived: $s"; done
for s in ${broken[@]+"${broken[@]}"}; do echo "  broken:   $s"; done
for s in ${unjudged[@]+"${unjudged[@]}"}; do echo "  unjudged: $s"; done
[[ $caught -eq $total ]]
