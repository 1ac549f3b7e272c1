#!/usr/bin/env bash
# pexos.sh - set up, build, run and test pexos on Debian 12.
#
#   sudo ./pexos.sh run SCRIPT.py [pexos-run options]   build, then run a script
#   sudo ./pexos.sh test                                build, then run every test
#   ./pexos.sh build                                    build only
#
# Each command first installs the Debian packages it needs when they are
# missing (as root, with apt-get), so a fresh machine needs nothing else.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

BUILD_DEPS=(meson ninja-build pkg-config gcc libjansson-dev libseccomp-dev
	libcap-dev libmicrohttpd-dev scdoc)
# netbase, media-types, ca-certificates: /etc/services and protocols,
# /etc/mime.types and the CA store, which the sandbox binds when present.
RUN_DEPS=(python3 python3-numpy python3-pandas python3-matplotlib netbase media-types
	ca-certificates)
# Every command a test or harness runs comes from one of these lists (or is
# in an Essential package: coreutils, bash, grep, sed, findutils, util-linux
# for unshare/setpriv, diffutils, libc-bin, sysvinit-utils for pidof).
TEST_DEPS=(clang libclang-rt-14-dev curl jq python3-yaml man-db procps mount
	binutils mawk passwd libpython3.11-testsuite python3-pytest python3-hypothesis
	nodejs)
# tests/mcp installs its pinned npm packages with npm ci. Debian's npm only
# where no npm came with nodejs (NodeSource's nodejs has its own, and
# conflicts with Debian's npm package).
command -v npm >/dev/null 2>&1 || TEST_DEPS+=(npm)

install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "pexos.sh: missing Debian packages: ${missing[*]}; run as root to install them" >&2
		exit 2
	fi
	echo "pexos.sh: installing ${missing[*]}" >&2
	# One installer at a time: .ci/run prepares the VM meanwhile, and
	# tests/vm/run installs what it needs under the same lock.
	local lock
	exec {lock}>/run/pexos-apt.lock
	flock "$lock"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
	exec {lock}>&-
}

quiet() { # run a command; show its output only if it fails
	local out
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "pexos.sh: failed: $*" >&2
		exit 1
	fi
}

build() { # build DIR [meson options]
	local dir=$1
	shift
	[ -f "$dir/build.ninja" ] || quiet meson setup "$dir" "$@"
	quiet ninja -C "$dir"
}

run_suite() { # run_suite DIR: the meson suite, its log kept for counting
	meson test -C "$1" --print-errorlogs --num-processes 2 "${@:2}" || true
}

cmd=${1:-}
case $cmd in
run)
	shift
	[ $# -ge 1 ] || { echo "usage: $0 run SCRIPT.py [options]" >&2; exit 2; }
	install_missing "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}"
	build build
	exec build/cli/pexos-run "$@"
	;;
build)
	install_missing "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}"
	build build
	;;
test)
	install_missing "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}" "${TEST_DEPS[@]}"
	build build
	# The same suite again with AddressSanitizer and UBSan on the C code.
	build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug
	# libFuzzer on request parsing (clang), 60 s.
	CC=clang build build-fuzz -Dfuzzing=true -Db_lundef=false -Dtests=true
	export PEXOS_MUST_WORK=${PEXOS_MUST_WORK:-1}
	# The fuzzers first: their minute keeps both CPUs busy, and is over
	# before .ci/run starts the VM's tests beside the suites.
	run_suite build-fuzz --suite fuzz
	run_suite build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_suite build-asan
	exec /usr/bin/python3 tests/summary.py build build-asan build-fuzz
	;;
*)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
