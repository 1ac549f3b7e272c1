#!/usr/bin/env bash
# pipeline.sh - pexos-run in shell pipelines, with jq.
#
#   sudo PATH="$PWD/build/cli:$PATH" examples/pipeline.sh
#
# Runs from anywhere, on the example scripts beside it; needs pexos-run on
# PATH, jq, and root (as pexos-run does). When its standard output is not a
# terminal, pexos-run prints each response as one line of compact JSON.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# One value out of a script's result: prints the mean, 3.
pexos-run numpy_pandas.py | jq '.result.mean'

# Only the result (-r), and a field of it: prints 2.
pexos-run -r pandas_describe.py | jq '.a.mean'

# Every example in one batch, keeping only the failures, one line each:
# {"file":"./exception.py","type":"ScriptError","error":"ZeroDivisionError: ..."}
# The batch exits 1 when a script failed, which is what is looked for
# here; 2 (usage, invalid request) and 3 (pexos failed) still stop it.
{ pexos-run -j 4 ./*.py || [ $? -eq 1 ]; } |
	jq -c 'select(.type) | {file, type, error}'

# A request built from a file with jq -Rs, with a lower time limit and
# stats: prints {"result":{"processed":true,"items":10},"lines":2,"pooled":false}.
jq -Rs '{script: ., timeout: 5, stats: true}' stdout.py |
	pexos-run --json - |
	jq -c '{result, lines: (.stdout | split("\n") | length - 1), pooled: .stats.pooled}'

# Data on the script's standard input, carried in the request: prints 12.
jq -n --arg data $'3\n4\n5\n' '{
	script: "import sys\ndef main():\n    return sum(int(n) for n in sys.stdin)",
	stdin: $data
}' | pexos-run --json - | jq '.result'
