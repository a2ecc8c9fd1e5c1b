#!/usr/bin/env bash
# Runs the README's test command the way a newcomer would: in a fresh clone of the
# committed HEAD, at a path of a given length, optionally on a loaded machine.
#
# Usage: scripts/check-clone.sh [--path-length N] [--load N] [--keep] [-- CTEST ARGS...]
#   --path-length N  the clone's absolute path is exactly N characters (default 150)
#   --load N         N CPU-bound processes run alongside the suite (default 0)
#   --keep           keep the clone afterwards (default: removed)
# Exits with the suite's exit code. The clone shares ccache and the installed packages,
# nothing else; uncommitted changes are not in it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
length=150 load=0 keep=0 ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --path-length) length="${2:?--path-length needs a number}"; shift 2 ;;
    --load) load="${2:?--load needs a number}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "check-clone.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$length$load" in *[!0-9]*) echo "check-clone.sh: --path-length and --load take whole numbers" >&2; exit 2 ;; esac

base=$(mktemp -d /tmp/lsc.XXXXXX)
# Pad with one long directory name to exactly `length` characters ("/repo" at the end).
pad=$(( length - ${#base} - 6 ))
[ "$pad" -ge 1 ] || { echo "check-clone.sh: --path-length $length is shorter than $base/x/repo" >&2; rm -rf "$base"; exit 2; }
dir="$base/$(printf 'p%.0s' $(seq "$pad"))/repo"
loaders=()
cleanup() {
  local p
  for p in "${loaders[@]}"; do kill "$p" 2>/dev/null || true; done
  [ "$keep" = 1 ] && echo "check-clone: kept $dir" || rm -rf "$base"
}
trap cleanup EXIT
git clone -q "$here" "$dir"
echo "check-clone: $(git -C "$dir" rev-parse --short HEAD) cloned into a ${#dir}-character path: $dir"
for _ in $(seq "$load"); do
  ( while :; do :; done ) &
  loaders+=($!)
done
[ "$load" -gt 0 ] && echo "check-clone: $load CPU-bound processes running alongside (pids ${loaders[*]})"
status=0
(cd "$dir" && scripts/test.sh "${ctest_args[@]}") || status=$?
echo "check-clone: scripts/test.sh exited $status (path length ${#dir}, load $load)"
exit $status
