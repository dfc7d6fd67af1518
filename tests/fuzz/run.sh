#!/usr/bin/env bash
# Run libFuzzer targets one after another; `make fuzz` calls it.
#
#   tests/fuzz/run.sh BUILD SECONDS TARGET...
#
# BUILD/fuzz_TARGET runs for SECONDS from its seeds: tests/fuzz/seeds/TARGET/
# and, for feed_NAME, the fixtures in tests/data/NAME/ (with the dictionary
# tests/fuzz/dict/NAME.dict).  New inputs go to BUILD/corpus/TARGET, kept
# between runs so that the next run starts where this one stopped; the
# seed directories are only read.  A crash, leak, timeout or out-of-memory
# input is saved as BUILD/crashes/TARGET-KIND-SHA1 and the libFuzzer log as
# BUILD/logs/TARGET.log.  One line per target; exits 1 if any target
# failed.  The feed targets' input files go to a private $TMPDIR, removed
# at the end.
set -euo pipefail

prog=${0##*/}
if (($# < 3)); then
  echo "usage: $prog BUILD SECONDS TARGET..." >&2
  exit 2
fi
build=$1
secs=$2
shift 2
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
  echo "$prog: SECONDS must be a whole number above 0, not '$secs'" >&2
  exit 2
fi

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lagerbild-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp

mkdir -p "$build/corpus" "$build/crashes" "$build/logs"
failed=()
for t in "$@"; do
  bin=$build/fuzz_$t
  log=$build/logs/$t.log
  corpus=$build/corpus/$t
  mkdir -p "$corpus"
  seeds=()
  [[ -d tests/fuzz/seeds/$t ]] && seeds+=("tests/fuzz/seeds/$t")
  opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048
    -print_final_stats=1 -artifact_prefix="$build/crashes/$t-")
  if [[ $t == feed_* ]]; then
    feed=${t#feed_}
    [[ -d tests/data/$feed ]] && seeds+=("tests/data/$feed")
    [[ -f tests/fuzz/dict/$feed.dict ]] &&
      opts+=(-dict="tests/fuzz/dict/$feed.dict")
    # csvin's record limit is 64 KiB; longer inputs reach past it.
    opts+=(-max_len=131072)
  fi

  # libFuzzer's exit status says whether it found something.
  if "$bin" "${opts[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    units=$(find "$corpus" -type f | wc -l)
    echo "fuzz: $t: ok, ${runs:-?} runs in ${secs} s, corpus $units inputs"
    continue
  fi
  failed+=("$t")
  input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  echo "fuzz: $t: FAILED; the libFuzzer log is $log:" >&2
  grep -aE '^(fuzz: invariant|==[0-9]+==ERROR|SUMMARY|.*runtime error)' \
    "$log" | head -n 5 | sed 's/^/    /' >&2 || true
  if [[ -n $input ]]; then
    echo "    input saved as $input; reproduce with: $bin $input" >&2
  else
    echo "    no input was saved; see the log" >&2
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: ${#failed[@]} of $# targets failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all $# targets ran ${secs} s each without a failure"
