#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the pinned npm packages (npm ci, package-lock.json: the MCP
# client, ajv, swagger-parser) into
# tests/mcp/node_modules when it is not there yet, then runs a test in it.
#   run.sh SCRIPT.mjs ARGS...    (test_sdk.mjs, test_openapi.mjs)
# Without node or npm, or when the install fails: a skip, or a failure
# under PEXOS_MUST_WORK=1.
dir=$(cd "$(dirname "$0")" && pwd)

missing() {
	if [ "${PEXOS_MUST_WORK:-0}" = 1 ]; then
		echo "Bail out! $1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 77
}

command -v node >/dev/null || missing "node is not installed (Debian: nodejs)"
command -v npm >/dev/null || missing "npm is not installed (Debian: npm)"
# One install at a time: both tests may start together.
exec 9>"$dir/.install.lock"
flock 9
if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.pexos-installed"; then
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2 ||
		missing "npm ci failed in $dir"
	cp "$dir/package-lock.json" "$dir/node_modules/.pexos-installed"
fi
flock -u 9
script=$1
shift
exec node "$dir/$script" "$@"
