#!/bin/sh
# Runs a libFuzzer target for SECONDS on a scratch copy of its corpus (new
# inputs must not land in the repository). Exit 0 only if the fuzzer itself
# exited 0, ran at least one input and left no failing input behind: a
# target that cannot start (missing binary, bad flag) fails, it does not
# pass silently.
#   run.sh TARGET CORPUS_DIR SECONDS
set -eu
[ $# -eq 3 ] || { echo "usage: run.sh TARGET CORPUS_DIR SECONDS" >&2; exit 2; }
# libFuzzer reads a bad number as 0, which means "no time limit".
case $3 in '' | *[!0-9]* | 0) echo "run.sh: SECONDS must be a positive integer" >&2; exit 2 ;; esac
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/corpus"
# The pipe hides the fuzzer's exit status: it is written to a file instead.
{
	status=0
	"$1" -max_total_time="$3" -print_final_stats=1 \
		-artifact_prefix="$scratch/" "$scratch/corpus" "$2" 2>&1 || status=$?
	echo "$status" >"$scratch/status"
} | tee "$scratch/log" | grep -vE '^#[0-9]+ +(NEW|REDUCE|pulse)' || true
status=$(cat "$scratch/status" 2>/dev/null || echo missing)
# libFuzzer's final statistics: how many inputs the target really ran.
units=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' \
	"$scratch/log" | tail -n 1)
failed=0
for f in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/oom-* \
	"$scratch"/timeout-*; do
	[ -f "$f" ] || continue
	[ $failed -eq 1 ] || echo "fuzz: failing inputs found:" >&2
	failed=1
	echo "$f:"
	od -c "$f" | head -20
done
if [ "$status" != 0 ]; then
	echo "fuzz: the fuzzer exited with status $status" >&2
	failed=1
fi
if [ -z "$units" ] || [ "$units" -eq 0 ]; then
	echo "fuzz: the fuzzer ran no input (${units:-no final statistics})" >&2
	failed=1
fi
[ $failed -eq 0 ] || exit 1
echo "fuzz: $units inputs in $3 s, no failing input"
