#!/usr/bin/env bash
# pexos dies mid-run (kill -9): the run's processes die with it, and its
# cgroups are removed by the next start. TAP.
#   test_crash.sh PEXOS_RUN
set -uo pipefail
run=$1
n=0 failed=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else
		echo "not ok $n - $2"; failed=$((failed + 1))
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/# /'
	fi
}
# pgrep comes from procps (pexos.sh's TEST_DEPS). Without it every check
# below would read "no such process", and the "gone" one would pass.
if ! command -v pgrep >/dev/null; then
	echo "Bail out! pgrep is not installed (Debian package procps)"
	exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
marker="pexos-crash-$$-$RANDOM"
printf 'import subprocess, time\ndef main():\n    subprocess.Popen(["/bin/sh", "-c", "sleep 60; : %s"])\n    time.sleep(60)\n' "$marker" >"$dir/sleep.py"
printf 'def main():\n    return 1\n' >"$dir/hello.py"

"$run" --timeout 60 "$dir/sleep.py" >/dev/null &
pid=$!
for _ in $(seq 50); do pgrep -f "$marker" >/dev/null && break; sleep 0.1; done
pgrep -f "$marker" >/dev/null
ok $? "the run's background process is running" "no process with $marker"
cgroups() { find /sys/fs/cgroup -maxdepth 6 -type d -name "run-$pid-*" 2>/dev/null; }
[ -n "$(cgroups)" ]
ok $? "the run has its cgroups" "none found for pid $pid"

kill -9 "$pid"
wait "$pid" 2>/dev/null
gone=1
for _ in $(seq 50); do # pgrep: 1 is "none matched"; 2 and 3 are its errors
	pgrep -f "$marker" >/dev/null
	rc=$?
	[ $rc = 1 ] && { gone=0; break; }
	[ $rc -gt 1 ] && { gone=$rc; break; }
	sleep 0.1
done
ok $gone "kill -9 of pexos-run: every process of its run is gone within 5 s" "$(pgrep -af "$marker")"

"$run" "$dir/hello.py" >/dev/null
left=$(cgroups)
[ -z "$left" ]
ok $? "the next start removed the dead run's cgroups" "$left"

echo "1..$n"
[ $failed = 0 ]
