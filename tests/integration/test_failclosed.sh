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
chmod 644 "$script" # readable by the root of no_userns's namespace below

# no_userns CMD...: CMD as root of a user namespace of ours that maps 65536
# ids, as a container's (enough for a run's two ids: only the one feature is
# missing), and whose max_user_namespaces is 0. A holder process makes the
# namespace, its maps are written from here, CMD enters it as its uid 0.
no_userns() {
	local holder i rc
	unshare -U sleep 120 &
	holder=$!
	for i in $(seq 100); do
		[ "$(readlink /proc/$holder/ns/user)" != "$(readlink /proc/self/ns/user)" ] && break
		sleep 0.02
	done
	echo '0 100000 65536' >/proc/$holder/uid_map &&
		echo '0 100000 65536' >/proc/$holder/gid_map &&
		nsenter -U -t "$holder" -S 0 -G 0 -- sh -c \
			'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"' sh "$@"
	rc=$?
	kill "$holder"
	wait "$holder" 2>/dev/null
	return $rc
}

# 1. No user namespaces: a user namespace of ours whose max is 0.
out=$(no_userns "$run" --limits=rlimit "$script" 2>&1)
rc=$?
echo "$out" | grep -q '"type":"SandboxError"' && echo "$out" | grep -q 'user.max_user_namespaces' &&
	! echo "$out" | grep -q '"stdout"' && [ $rc = 3 ]
ok $? "no user namespaces: SandboxError naming the sysctl, exit 3, nothing ran" "rc=$rc $out"

out=$(no_userns "$run" --limits=rlimit --check 2>&1)
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
