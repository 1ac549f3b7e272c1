#!/usr/bin/env bash
# tests/container/run.sh - build the pexos container image and check, with
# podman, that the sandbox works inside it with the documented flags and that
# pexos refuses, naming the missing feature, when any one of them is left out.
#
#   sudo tests/container/run.sh            (from anywhere; needs root podman)
#   sudo SUITE=bookworm tests/container/run.sh     (the Debian 12 image)
#
# Steps: (a) tests/container/image builds the image of $SUITE (default
# trixie, Debian 13; bookworm, Debian 12) if its inputs changed, first
# making the local debian:$SUITE-slim base image with container-base.sh if
# it is missing (no registry needed), (b) the image's Python, numpy and
# pandas are the suite's, (c) pexos-run --check and every example with the
# flags, responses compared as JSON with examples/*.expect.json,
# examples/pipeline.sh with its pexos-run in the image and the README's MCP
# example, (d) the same without each flag: a refusal that names the
# feature, non-zero exit, nothing ran, (e) the image's entry point,
# pexos-httpd on $PORT: the README's curl examples, /health with the warm
# pool up, a clean stop on SIGTERM, and a refusal to start without the
# flags, (f) the image size, (g) tests/container/image --save: an archive
# podman load reads. TAP-ish output ending with `N passed, N failed`; exit
# status 0 only if nothing failed.
#
# Environment: SUITE (trixie or bookworm), IMAGE (default
# localhost/pexos:$SUITE), BASE_SCRIPT (path of container-base.sh, passed
# on to tests/container/image), PEXOS_CONTAINER_ATTACKS=1 also runs the
# security attack suite (tests/security/run_attacks.py) inside the
# container.
set -uo pipefail

t_start=$(date +%s)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SUITE=${SUITE:-trixie}
IMAGE=${IMAGE:-localhost/pexos:$SUITE}
# What the image of each suite runs (the README says so): Python, numpy and
# pandas versions, as prefixes.
case $SUITE in
trixie) WANT_PY=3.13 WANT_NP=2 WANT_PD=2.2 ;;
bookworm) WANT_PY=3.11 WANT_NP=1.24 WANT_PD=1.5 ;;
*) echo "run.sh: SUITE is trixie or bookworm, not $SUITE" >&2; exit 2 ;;
esac

# The documented flags (README, pexos(7) "CONTAINERS"), one per feature:
#   /proc    a new /proc can only be mounted while no path of the container's
#            /proc is masked or read-only (docker: systempaths=unconfined)
#   seccomp  podman's/docker's default profile refuses sethostname, mount,
#            pivot_root... to a container without CAP_SYS_ADMIN
#   cgroups  a writable cgroup tree, seen from the host's cgroup namespace so
#            that pexos makes its run cgroups inside the container's own
FLAG_PROC=(--security-opt unmask=ALL)
FLAG_SECCOMP=(--security-opt seccomp=unconfined)
FLAG_CGROUP=(--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw)
FLAGS=("${FLAG_PROC[@]}" "${FLAG_SECCOMP[@]}" "${FLAG_CGROUP[@]}")
# The image's entry point is pexos-httpd; the CLI checks name pexos-run.
CLI=(--entrypoint pexos-run)

n=0 failed=0
ok() { # ok STATUS DESCRIPTION [DIAGNOSTIC]
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else
		echo "not ok $n - $2"; failed=$((failed + 1))
		[ -n "${3:-}" ] && printf '%s\n' "$3" | head -40 | sed 's/^/#   /'
	fi
}
finish() {
	echo "# total $(($(date +%s) - t_start)) s"
	echo "$((n - failed)) passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}
step() { echo "# $* (+$(($(date +%s) - t_start)) s)"; }

# JSON equality of a response (argument) and an expect file.
json_equal() {
	python3 -c 'import json, sys
got = json.loads(sys.argv[1]); want = json.load(open(sys.argv[2]))
sys.exit(0 if got == want else 1)' "$1" "$2" 2>/dev/null
}
# example_matches RESPONSE EXIT EXPECT_FILE: a success is its expect file
# exactly, exit 0; a failure has its members and an error message, may add
# only a traceback (of the user's frame, for a ScriptError) and stderr,
# exit 1.
example_matches() {
	python3 - "$@" <<'PY' 2>/dev/null
import json, sys
got, rc = json.loads(sys.argv[1]), int(sys.argv[2])
with open(sys.argv[3]) as f:
    want = json.load(f)
if "type" not in want:
    sys.exit(0 if rc == 0 and got == want else 1)
ok = rc == 1 and isinstance(got.get("error"), str) and got["error"] != ""
ok = ok and all(got.get(k) == v for k, v in want.items())
ok = ok and set(got) - set(want) <= {"error", "traceback", "stderr"}
if want["type"] == "ScriptError":
    ok = ok and 'File "script.py", line ' in got.get("traceback", "")
sys.exit(0 if ok else 1)
PY
}
# prun ARGS...: podman run --rm ARGS, no stdin. Sets $out (stdout+stderr), $rc.
prun() { out=$(podman run --rm "$@" </dev/null 2>&1); rc=$?; }
# prun_in FILE ARGS...: the same with FILE piped to the container's stdin.
# podman 4.3's attach with a piped stdin sometimes loses all of a short-lived
# container's output (about 1 run in 50 here; podman issues #3302, #11446):
# pexos-run always prints something, so an empty answer is retried (twice).
prun_in() {
	local file=$1 try; shift
	for try in 1 2 3; do
		out=$(podman run --rm -i "$@" <"$file" 2>&1); rc=$?
		[ -n "$out" ] && return
		echo "# podman returned no output (exit $rc): attach race, retrying"
	done
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'def main():\n    x = bytearray(900 * 1024 * 1024)\n    return len(x)\n' >"$tmp/membomb.py"
printf 'def main():\n    print("ran")\n    return 1\n' >"$tmp/ran.py"

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (rootful podman)" >&2; exit 2; }

# --- (a) the image -------------------------------------------------------------
step "tests/container/image --suite $SUITE --tag $IMAGE"
t0=$(date +%s)
out=$("$HERE/image" --suite "$SUITE" --tag "$IMAGE" 2>&1); rc=$?
echo "$out" | grep '^image: .* s$' | sed 's/^/# /'
ok $rc "image of $SUITE built or found up to date ($(($(date +%s) - t0)) s)" "$(echo "$out" | tail -30)"
[ $rc = 0 ] || finish

# --- (b) what it runs ----------------------------------------------------------
out=$(podman run --rm --entrypoint python3 "$IMAGE" -c \
	'import platform, numpy, pandas; print(platform.python_version(), numpy.__version__, pandas.__version__)' 2>&1)
read -r py np pd rest <<<"$out"
[[ $py == "$WANT_PY".* && $np == "$WANT_NP".* && $pd == "$WANT_PD".* && -z $rest ]]
ok $? "the $SUITE image runs Python $py, numpy $np, pandas $pd (want $WANT_PY, $WANT_NP, $WANT_PD)" "$out"

# --- (c) with the flags --------------------------------------------------------
step "with ${FLAGS[*]}"
prun "${FLAGS[@]}" "${CLI[@]}" "$IMAGE" --check
[ $rc = 0 ] && ! echo "$out" | grep -q '^MISSING' &&
	echo "$out" | grep -Eq '^limits: cgroup-v[12]$' &&
	echo "$out" | grep -q '^pexos can run scripts on this host$'
ok $? "--check passes fully, with cgroup limits" "rc=$rc
$out"

# The run cgroups must be inside the container's own cgroup, not at the root
# of the host's tree.
echo "$out" | grep -Eq '^ok +cgroups .* under /sys/fs/cgroup/.+/.+/pexos$'
ok $? "--check: the run cgroups are under the container's own cgroup" "$(echo "$out" | grep cgroups)"

# Every example, as the host's tests/integration/test_cli.py runs them: a
# success equals its expect file; a failure has the expect file's members
# and an error message (and may add a traceback and stderr), exit 1.
for path in "$REPO"/examples/*.py; do
	ex=$(basename "$path" .py)
	prun_in "$path" "${FLAGS[@]}" "${CLI[@]}" "$IMAGE" -
	example_matches "$out" "$rc" "$REPO/examples/$ex.expect.json"
	ok $? "examples/$ex.py through pexos-run - : response matches $ex.expect.json" "rc=$rc
got:  $out
want: $(cat "$REPO/examples/$ex.expect.json" 2>&1)"
done

# examples/pipeline.sh as written, with a pexos-run on PATH that runs the
# image's in a container, the working directory (examples/) mounted
# read-only at the same path. What it prints is what its comments say.
mkdir "$tmp/bin"
cat >"$tmp/bin/pexos-run" <<'EOF'
#!/usr/bin/env bash
# Standard input is kept in a file, so that a lost attach (see prun_in in
# run.sh) can be retried.
in=$(mktemp) err=$(mktemp)
cat >"$in"
for try in 1 2 3; do
	out=$(podman run --rm -i $SHIM_FLAGS -v "$PWD:$PWD:ro" -w "$PWD" \
		--entrypoint pexos-run "$SHIM_IMAGE" "$@" <"$in" 2>"$err"); rc=$?
	[ -n "$out" ] && break
done
cat "$err" >&2
rm -f "$in" "$err"
printf '%s\n' "$out"
exit $rc
EOF
chmod +x "$tmp/bin/pexos-run"
out=$(PATH="$tmp/bin:$PATH" SHIM_FLAGS="${FLAGS[*]}" SHIM_IMAGE="$IMAGE" \
	bash "$REPO/examples/pipeline.sh" </dev/null 2>"$tmp/pipeline.err"); rc=$?
[ $rc = 0 ] && python3 - "$out" "$REPO/examples" <<'PY'
import glob, json, os, sys
lines = [json.loads(line) for line in sys.argv[1].splitlines()]
failing = set()
for path in glob.glob(os.path.join(sys.argv[2], "*.expect.json")):
    with open(path) as f:
        want = json.load(f)
    if "type" in want:
        name = os.path.basename(path)[:-len(".expect.json")]
        failing.add((f"./{name}.py", want["type"]))
end = [{"result": {"processed": True, "items": 10}, "lines": 2, "pooled": False}, 12]
failures = {(v.get("file"), v.get("type")) for v in lines[2:-2] if isinstance(v, dict)}
sys.exit(0 if lines[:2] == [3, 2] and lines[-2:] == end and failures == failing
         and len(lines) == 4 + len(failing) else 1)
PY
ok $? "examples/pipeline.sh with the image's pexos-run prints what its comments say" "rc=$rc
$out
$(cat "$tmp/pipeline.err")"

# The README's MCP example (pexos-run --mcp, messages on stdin) and the
# answer the README shows for it.
cat >"$tmp/mcp.in" <<'EOF'
{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"sh","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_python","arguments":{"script":"import numpy as np\ndef main():\n    print(\"hi\")\n    return {\"mean\": np.mean([1, 2, 3])}"}}}
EOF
prun_in "$tmp/mcp.in" "${FLAGS[@]}" "${CLI[@]}" "$IMAGE" --mcp
want='{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"result: {\"mean\":2.0}\n\nstdout:\nhi\n"}],"structuredContent":{"result":{"mean":2.0},"stdout":"hi\n"},"isError":false}}'
[ $rc = 0 ] && echo "$out" | grep -qxF "$want"
ok $? "the README's MCP example: pexos-run --mcp answers as the README shows" "rc=$rc
$out"

prun_in "$tmp/membomb.py" "${FLAGS[@]}" "${CLI[@]}" "$IMAGE" --stats -
[ $rc = 1 ] && echo "$out" | grep -q '"type":"MemoryLimit"' && echo "$out" | grep -q '"limits":"cgroup-v'
ok $? "a 900 MiB allocation ends in MemoryLimit (cgroup), exit 1" "rc=$rc $out"

# --- (d) without the flags ---------------------------------------------------
# refused DESCRIPTION REGEX FLAGS... : --check exits non-zero, names the
# feature (REGEX, on a MISSING line), and a script is refused with a
# SandboxError (exit 3) that names it too, without running.
refused() {
	local what=$1 re=$2; shift 2
	prun "$@" "${CLI[@]}" "$IMAGE" --check
	[ $rc != 0 ] && echo "$out" | grep -E '^MISSING' | grep -Eq "$re" &&
		echo "$out" | grep -q '^pexos refuses to run scripts on this host$'
	ok $? "$what: --check exits $rc and names it" "rc=$rc
$out"
	prun_in "$tmp/ran.py" "$@" "${CLI[@]}" "$IMAGE" -
	[ $rc = 3 ] && echo "$out" | grep -q '"type":"SandboxError"' &&
		echo "$out" | grep -Eq "$re" && ! echo "$out" | grep -q '"stdout":"ran'
	ok $? "$what: a script is refused (SandboxError, exit 3), nothing ran" "rc=$rc $out"
}
step "without the flags"
# With no flag the first thing missing is the cgroup; the message must say
# how to get one or how to opt out.
refused "no flags at all" 'cgroup.*--limits=rlimit'
refused "without ${FLAG_CGROUP[*]}" 'cgroup.*--limits=rlimit' "${FLAG_PROC[@]}" "${FLAG_SECCOMP[@]}"
refused "without ${FLAG_PROC[*]}" 'mount.*proc' "${FLAG_SECCOMP[@]}" "${FLAG_CGROUP[@]}"
refused "without ${FLAG_SECCOMP[*]}" "step 'uts'|hostname|seccomp" "${FLAG_PROC[@]}" "${FLAG_CGROUP[@]}"

# --privileged alone works too (it gives far more than pexos needs): the
# container's own cgroup is found through /proc/self/mountinfo.
step "--privileged alone"
prun --privileged "${CLI[@]}" "$IMAGE" --check
[ $rc = 0 ] && echo "$out" | grep -q '^limits: cgroup-v'
ok $? "--privileged alone: --check passes with a cgroup per run" "rc=$rc
$out"

# --limits=rlimit needs no cgroup flag, only the other two.
step "--limits=rlimit without the cgroup flags"
prun "${FLAG_PROC[@]}" "${FLAG_SECCOMP[@]}" "${CLI[@]}" "$IMAGE" --limits=rlimit --check
[ $rc = 0 ] && echo "$out" | grep -q '^limits: rlimit$'
ok $? "--limits=rlimit --check passes with only ${FLAG_PROC[*]} ${FLAG_SECCOMP[*]}" "rc=$rc
$out"
prun_in "$REPO/examples/numpy_pandas.py" "${FLAG_PROC[@]}" "${FLAG_SECCOMP[@]}" "${CLI[@]}" "$IMAGE" --limits=rlimit -
[ $rc = 0 ] && json_equal "$out" "$REPO/examples/numpy_pandas.expect.json"
ok $? "--limits=rlimit: examples/numpy_pandas.py gives its expected response" "rc=$rc $out"
prun "${CLI[@]}" "$IMAGE" --limits=rlimit --check
[ $rc != 0 ] && echo "$out" | grep -Eq '^MISSING +sandbox'
ok $? "--limits=rlimit with no flags is still refused (exit $rc)" "rc=$rc
$out"

# The tightest set verified: podman's own default seccomp profile with
# sethostname/setdomainname allowed (the only calls of pexos's set-up it
# refuses, to containers without CAP_SYS_ADMIN), so the container keeps a
# filter; only /proc unmasked (podman only; docker has no such flag); and
# every capability dropped but CAP_SETUID and CAP_SETGID (to write the runs'
# id maps).
if [ -f /usr/share/containers/seccomp.json ]; then
	step "unmask=/proc/* and podman's default seccomp profile + sethostname, setdomainname"
	python3 - /usr/share/containers/seccomp.json "$tmp/seccomp.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
uts = {"sethostname", "setdomainname"}
for rule in p["syscalls"]:
    if rule["action"] != "SCMP_ACT_ALLOW":
        rule["names"] = [n for n in rule["names"] if n not in uts]
p["syscalls"] = [r for r in p["syscalls"] if r["names"]]
p["syscalls"].append({"names": sorted(uts), "action": "SCMP_ACT_ALLOW"})
json.dump(p, open(sys.argv[2], "w"))
PY
	TIGHT_SEC=(--security-opt 'unmask=/proc/*' --security-opt "seccomp=$tmp/seccomp.json" "${FLAG_CGROUP[@]}")
	TIGHT=("${TIGHT_SEC[@]}" --cap-drop=ALL --cap-add=SETUID,SETGID)
	prun "${TIGHT[@]}" "${CLI[@]}" "$IMAGE" --check
	[ $rc = 0 ] && ! echo "$out" | grep -q '^MISSING'
	ok $? "--check passes with unmask=/proc/* seccomp=<podman default + sethostname, setdomainname> --cap-drop=ALL --cap-add=SETUID,SETGID" "rc=$rc
$out"
	prun_in "$REPO/examples/numpy_pandas.py" "${TIGHT[@]}" "${CLI[@]}" "$IMAGE" -
	[ $rc = 0 ] && json_equal "$out" "$REPO/examples/numpy_pandas.expect.json"
	ok $? "... and examples/numpy_pandas.py gives its expected response" "rc=$rc $out"
fi

# --- optional: the attack suite inside the container ---------------------------
if [ "${PEXOS_CONTAINER_ATTACKS:-0}" = 1 ]; then
	step "tests/security/run_attacks.py inside the container"
	# --init: the harness must not be PID 1 (it would have to reap orphans);
	# some /bin/true first, then the harness as a child (not exec), so that
	# its pid is above 64 (the suite refuses to judge small pids, which exist
	# inside a sandbox too).
	# (The harness needs the container's default capabilities: it starts and
	# kills helper processes of other uids.)
	ATTACK_FLAGS=("${FLAGS[@]}")
	[ -n "${TIGHT_SEC+set}" ] && ATTACK_FLAGS=("${TIGHT_SEC[@]}")
	out=$(podman run --rm --init "${ATTACK_FLAGS[@]}" -v "$REPO:/src/repo:ro" \
		--entrypoint sh "$IMAGE" -c 'for i in $(seq 80); do /bin/true; done
		python3 /src/repo/tests/security/run_attacks.py /opt/pexos/bin/pexos-run' 2>&1)
	rc=$?
	ok $rc "attack suite inside the container: $(echo "$out" | grep -E '^# [0-9]+ passed' | tail -1)" \
		"$(echo "$out" | grep -E -A12 '^not ok')"
fi

# --- (e) the daemon, the image's entry point -----------------------------------
step "pexos-httpd, the entry point"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
name=pexos-test-httpd-$$
cid=$(podman run -d --name "$name" "${FLAGS[@]}" --network host -e PORT="$port" \
	-e PEXOS_LISTEN=127.0.0.1 -e PEXOS_WORKERS=2 "$IMAGE" 2>&1)
up=1
for _ in $(seq 600); do
	curl -fsS "127.0.0.1:$port/health" >/dev/null 2>&1 && { up=0; break; }
	sleep 0.1
done
ok $up "the image's pexos-httpd answers /health on \$PORT ($port)" "$cid
$(podman logs "$name" 2>&1 | tail -20)"
health=$(curl -fsS "127.0.0.1:$port/health" 2>&1)
echo "$health" | python3 -c 'import json, sys
h = json.load(sys.stdin); p = h["pool"]
sys.exit(0 if h["status"] == "healthy" and p["state"] == "up" and p["ready"] > 0 and p["size"] == 4 else 1)'
ok $? "/health: healthy, the warm pool up (size 2 x workers)" "$health"
# The README's two curl examples, as written but for the port.
out=$(curl -sS -H 'Content-Type: application/json' \
	-d '{"script": "def main():\n    return {\"message\": \"Hello, World!\"}"}' \
	"localhost:$port/execute" 2>&1)
[ "$out" = '{"result":{"message":"Hello, World!"},"stdout":""}' ]
ok $? "README curl example: hello" "$out"
out=$(jq -Rs '{script: ., timeout: 10}' "$REPO/examples/numpy_pandas.py" |
	curl -sS -H 'Content-Type: application/json' --data-binary @- \
		"localhost:$port/execute" | jq -c .result 2>&1)
want=$(jq -c .result "$REPO/examples/numpy_pandas.expect.json")
[ -n "$out" ] && [ "$out" = "$want" ]
ok $? "README curl example: numpy_pandas.py through jq" "got $out, want $want"
out=$(curl -sS -H 'Content-Type: application/json' \
	-d '{"script": "def main():\n    return 1\n", "stats": true}' "localhost:$port/execute" 2>&1)
echo "$out" | grep -q '"pooled":true'
ok $? "a run in the container takes a warm sandbox" "$out"
podman stop -t 30 "$name" >/dev/null 2>&1
code=$(podman inspect "$name" --format '{{.State.ExitCode}}' 2>&1)
[ "$code" = 0 ] && podman logs "$name" 2>&1 | grep -q '"message":"stopped"'
ok $? "SIGTERM (podman stop): the daemon stops cleanly, exit 0" "exit code $code
$(podman logs "$name" 2>&1 | tail -5)"
podman rm -f "$name" >/dev/null 2>&1
out=$(podman run --rm --network host -e PORT="$port" "$IMAGE" 2>&1); rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'refusing to start' && echo "$out" | grep -Eq 'cgroup.*--limits=rlimit'
ok $? "without the flags the daemon refuses to start and says what is missing" "rc=$rc
$out"

# --- (f) size --------------------------------------------------------------
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
echo "# image $IMAGE: $((size / 1000000)) MB ($((size / 1048576)) MiB, $size bytes)"
[ "$size" -le 250000000 ]
ok $? "image size $((size / 1000000)) MB <= 250 MB"

# --- (g) the archive -------------------------------------------------------
# tests/container/image --save, as the VM's harness calls it: a
# docker-archive naming $IMAGE whose config is this image, that podman
# load reads back to the same image.
step "tests/container/image --save"
out=$("$HERE/image" --suite "$SUITE" --tag "$IMAGE" --save "$tmp/image.tar" 2>&1); rc=$?
echo "$out" | grep '^image: .* s$' | sed 's/^/# /'
id=$(podman image inspect "$IMAGE" --format '{{.Id}}')
names=$(podman image inspect "$IMAGE" --format '{{join .RepoTags " "}}')
[ $rc = 0 ] && tar -xOf "$tmp/image.tar" manifest.json | python3 -c 'import json, sys
m = json.load(sys.stdin)
sys.exit(0 if len(m) == 1 and len(m[0]["RepoTags"]) == 1
         and m[0]["RepoTags"][0] in sys.argv[1].split()
         and m[0]["Config"].split(".")[0] == sys.argv[2].split(":")[-1] else 1)' "$names" "$id" &&
	loaded=$(podman load -q -i "$tmp/image.tar" 2>&1) &&
	[ "$(podman image inspect "$IMAGE" --format '{{.Id}}')" = "$id" ]
ok $? "image --save: a docker-archive of $IMAGE (image ${id:0:12}) that podman load reads" "rc=$rc
$out
${loaded:-}"

finish
