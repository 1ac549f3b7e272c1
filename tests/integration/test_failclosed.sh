#!/usr/bin/env bash
# Fail closed: take an isolation feature away for real and check that pexos
# refuses, says which feature and how to get it, and runs nothing. TAP.
#   test_failclosed.sh PEXOS_RUN
set -uo pipefail
run=$1
n=0 failed=0
ok() { # ok COND DESCRIPTION [DIAGNOSTIC]
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else
		echo "not ok $n - $2"; failed=$((failed + 1))
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/# /'
	fi
}
script=$(mktemp --suffix=.py)
trap 'rm -f "$script"' EXIT
printf 'def main():\n    print("ran")\n    return 1\n' >"$script"

# 1. No user namespaces: a user namespace of ours whose max is 0.
out=$(unshare -Ur sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" --limits=rlimit "$1"' "$run" "$script" 2>&1)
rc=$?
echo "$out" | grep -q '"type":"SandboxError"' && echo "$out" | grep -q 'user.max_user_namespaces' &&
	! echo "$out" | grep -q '"stdout"' && [ $rc = 3 ]
ok $? "no user namespaces: SandboxError naming the sysctl, exit 3, nothing ran" "rc=$rc $out"

out=$(unshare -Ur sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" --limits=rlimit --check' "$run" 2>&1)
rc=$?
echo "$out" | grep -Eq '^MISSING +user namespace' && [ $rc -ne 0 ]
ok $? "no user namespaces: --check says MISSING and exits non-zero" "rc=$rc $out"

# 2. No cgroup filesystem: hide it in a mount namespace of ours.
out=$(unshare -m sh -c 'mount -t tmpfs none /sys/fs/cgroup && exec "$0" "$1"' "$run" "$script" 2>&1)
rc=$?
echo "$out" | grep -q '"type":"SandboxError"' && echo "$out" | grep -q -- '--limits=rlimit' &&
	! echo "$out" | grep -q '"stdout"' && [ $rc = 3 ]
ok $? "no cgroups: SandboxError that names the fix, exit 3, nothing ran" "rc=$rc $out"

out=$(unshare -m sh -c 'mount -t tmpfs none /sys/fs/cgroup && exec "$0" --check' "$run" 2>&1)
rc=$?
echo "$out" | grep -Eq '^MISSING +cgroups' && [ $rc -ne 0 ]
ok $? "no cgroups: --check says MISSING and exits non-zero" "rc=$rc $out"

# 3. The operator's opt-in: weaker per-process limits, said so in stats.
out=$(unshare -m sh -c 'mount -t tmpfs none /sys/fs/cgroup && exec "$0" --limits=rlimit --stats "$1"' "$run" "$script" 2>&1)
rc=$?
echo "$out" | grep -q '"result":1' && echo "$out" | grep -q '"limits":"rlimit"' && [ $rc = 0 ]
ok $? "--limits=rlimit runs without cgroups and says so in stats" "rc=$rc $out"

printf 'def main():\n    x = bytearray(600 * 1024 * 1024)\n    return len(x)\n' >"$script"
out=$(unshare -m sh -c 'mount -t tmpfs none /sys/fs/cgroup && exec "$0" --limits=rlimit --memory 200 "$1"' "$run" "$script" 2>&1)
rc=$?
echo "$out" | grep -q '"type":"MemoryLimit"' && [ $rc = 1 ]
ok $? "--limits=rlimit: RLIMIT_AS turns a memory bomb into MemoryLimit" "rc=$rc $out"

out=$("$run" --memory 200 --stats "$script" 2>&1)
rc=$?
echo "$out" | grep -q '"type":"MemoryLimit"' && echo "$out" | grep -q '"limits":"cgroup-v' && [ $rc = 1 ]
ok $? "with cgroups: the same bomb is a MemoryLimit from the OOM counter" "rc=$rc $out"

echo "1..$n"
[ $failed = 0 ]
