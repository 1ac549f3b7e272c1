#!/bin/sh
# Runs a libFuzzer target for SECONDS on a scratch copy of its corpus (new
# inputs must not land in the repository). Exit 0 unless it found a crash.
#   run.sh TARGET CORPUS_DIR SECONDS
set -eu
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$1" -max_total_time="$3" -print_final_stats=1 -artifact_prefix="$scratch/" \
	"$scratch" "$2" 2>&1 | grep -vE '^#[0-9]+ +(NEW|REDUCE|pulse)' || status=$?
# grep's status is not the fuzzer's: check for artifacts instead
if ls "$scratch"/crash-* "$scratch"/leak-* "$scratch"/oom-* "$scratch"/timeout-* >/dev/null 2>&1; then
	echo "fuzz: failing inputs found:" >&2
	for f in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/oom-* "$scratch"/timeout-*; do
		[ -f "$f" ] && { echo "$f:"; od -c "$f" | head -20; }
	done
	exit 1
fi
echo "fuzz: no failing input in $3 s"
