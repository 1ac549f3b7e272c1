#!/usr/bin/env bash
# `meson install` into a DESTDIR: the library, header, pkg-config file,
# binaries and man pages land where they belong, and examples/embed.c
# builds against that installed copy alone and runs a script. TAP.
#
#   test_install.sh BUILD_DIR SOURCE_DIR [SANITIZE [MAN [HTTPD]]]
#
# SANITIZE is the build's b_sanitize ("none", "address,undefined"): embed.c
# is then built with the same -fsanitize flags. MAN and HTTPD are 1 when
# the build made the man pages and pexos-httpd (else their checks skip).
# Running embed needs root and a host where pexos works; without them the
# run skips, or fails under PEXOS_MUST_WORK=1.
set -uo pipefail
build=$(readlink -f "$1")
src=$(readlink -f "$2")
sanitize=${3:-none}
have_man=${4:-1}
have_httpd=${5:-1}

n=0 failed=0
ok() { # ok STATUS DESCRIPTION [DIAGNOSTIC]
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
	fi
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
finish() {
	echo "1..$n"
	echo "# $((n - failed)) passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

tmp=$(mktemp -d /tmp/pexos-test-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest

# 1. Install. --no-rebuild: meson test has built what the install needs
# (this test depends on it), and a second ninja must not race the first.
out=$(DESTDIR=$dest meson install -C "$build" --no-rebuild --quiet 2>&1)
ok $? "DESTDIR=... meson install -C BUILD succeeds" "$out"
[ -d "$dest" ] || finish

# Where things go: the build's own directory options.
dirs=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
for k in ("libdir", "includedir", "bindir", "sbindir", "mandir"):
    v = o[k]
    print(k, v if v.startswith("/") else p.rstrip("/") + "/" + v)
')
dir() { printf '%s\n' "$dirs" | awk -v k="$1" '$1 == k { print $2 }'; }
libdir=$dest$(dir libdir) incdir=$dest$(dir includedir)
bindir=$dest$(dir bindir) sbindir=$dest$(dir sbindir) mandir=$dest$(dir mandir)

# 2. What is installed.
[ -f "$libdir/libpexos.so.0.1.0" ] && [ -L "$libdir/libpexos.so.0" ] &&
	[ -L "$libdir/libpexos.so" ] && [ "$(readlink -f "$libdir/libpexos.so")" = "$libdir/libpexos.so.0.1.0" ]
ok $? "library: libpexos.so -> libpexos.so.0 -> libpexos.so.0.1.0 in $(dir libdir)" \
	"$(ls -l "$libdir" 2>&1)"

cmp -s "$incdir/pexos.h" "$src/lib/include/pexos.h" &&
	[ "$(find "$incdir" -type f | wc -l)" = 1 ]
ok $? "header: pexos.h, and only it, in $(dir includedir)" "$(find "$incdir" 2>&1)"

pc=$libdir/pkgconfig/libpexos.pc
[ -f "$pc" ] && grep -q '^Libs: .*-lpexos' "$pc" && grep -q '^Cflags: ' "$pc" &&
	! grep -qF -e "$build" -e "$src" "$pc"
ok $? "pkg-config file libpexos.pc, naming neither the build nor the source tree" \
	"$(cat "$pc" 2>&1)"

[ -x "$bindir/pexos-run" ]
ok $? "pexos-run in $(dir bindir)" "$(ls -l "$bindir" 2>&1)"
if [ "$have_httpd" = 1 ]; then
	[ -x "$sbindir/pexos-httpd" ]
	ok $? "pexos-httpd in $(dir sbindir)" "$(ls -l "$sbindir" 2>&1)"
else
	skip "pexos-httpd in $(dir sbindir)" "this build has no pexos-httpd (libmicrohttpd missing)"
fi

for page in man1/pexos-run.1 man8/pexos-httpd.8 man3/libpexos.3 man7/pexos.7; do
	if [ "$have_man" != 1 ]; then
		skip "man page $page" "this build has no man pages (scdoc missing)"
		continue
	fi
	f=$mandir/$page
	name=$(basename "$page")
	if [ ! -f "$f" ]; then
		ok 1 "man page $page is installed" "$(find "$mandir" 2>&1)"
		continue
	fi
	if ! command -v man >/dev/null; then
		skip "man page $page is installed and renders with man -l" "man (man-db) is not installed"
		continue
	fi
	# Render it as a reader would; groff's warnings go to stderr.
	text=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>"$tmp/man.err")
	rc=$?
	[ $rc = 0 ] && [ ! -s "$tmp/man.err" ] && grep -q '^NAME' <<<"$text" &&
		[[ "${text%%$'\n'*}" == "${name%.*}(${name##*.})"* ]]
	ok $? "man page $page is installed and renders with man -l, no warnings" \
		"exit $rc; $(head -c 1000 "$tmp/man.err")"
done

# 3. The installed binaries use the installed library.
export LD_LIBRARY_PATH=$libdir
for exe in "$bindir/pexos-run" "$sbindir/pexos-httpd"; do
	[ -x "$exe" ] || continue
	v=$("$exe" --version 2>&1) && lib=$(ldd "$exe" | awk '/libpexos/ { print $3 }') &&
		[ "$(readlink -f "$lib")" = "$libdir/libpexos.so.0.1.0" ] &&
		! grep -qE "R(UN)?PATH.*($build|$src)" <<<"$(readelf -d "$exe")"
	ok $? "installed $(basename "$exe") runs and links the installed libpexos ($v)" \
		"ldd: $(ldd "$exe" 2>&1 | grep -E 'pexos|not found')"
done

# 4. Build examples/embed.c against the installed copy only: a copy of the
# source outside the tree, pkg-config reading only the DESTDIR's .pc with
# DESTDIR as its sysroot, no compiler search-path variables.
mkdir -p "$tmp/work"
cp "$src/examples/embed.c" "$tmp/work/embed.c"
cd "$tmp/work" || finish
unset CPATH C_INCLUDE_PATH LIBRARY_PATH PKG_CONFIG_PATH
flags=$(PKG_CONFIG_LIBDIR=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest \
	pkg-config --cflags --libs libpexos 2>&1)
rc=$?
[ $rc = 0 ] && [[ "$flags" == *"-I$incdir"* ]] && [[ "$flags" == *"-L$libdir"* ]] &&
	[[ "$flags" == *-lpexos* ]]
ok $? "pkg-config --cflags --libs libpexos points into DESTDIR: $flags" "exit $rc"

san=()
[ "$sanitize" != none ] && [ -n "$sanitize" ] && san=(-fsanitize="$sanitize")
# shellcheck disable=SC2086 # $flags is a list of words, as in a Makefile
out=$(cc -std=c17 -Wall -Wextra -Werror "${san[@]}" -MD -MF embed.d \
	-o embed embed.c $flags 2>&1)
ok $? "cc embed.c \$(pkg-config --cflags --libs libpexos) builds with -Wall -Wextra -Werror" "$out"

hdr=$(grep -o '[^ ]*/pexos\.h' embed.d 2>/dev/null | head -1)
[ "$(readlink -f "$hdr")" = "$incdir/pexos.h" ]
ok $? "embed.c included the installed pexos.h ($hdr)" "$(cat embed.d 2>&1)"

lib=$(ldd ./embed 2>&1 | awk '/libpexos/ { print $3 }')
[ "$(readlink -f "$lib")" = "$libdir/libpexos.so.0.1.0" ] &&
	! grep -qE 'R(UN)?PATH' <<<"$(readelf -d ./embed)"
ok $? "embed loads the installed libpexos ($lib), no rpath" "$(ldd ./embed 2>&1)"

# 5. Run it.
must_work=${PEXOS_MUST_WORK:-0}
if [ "$(id -u)" != 0 ] && [ "$must_work" != 1 ]; then
	for what in "hello.py" "no argument" "exception.py" "a missing file"; do
		skip "embed runs $what" "not root"
	done
	finish
fi

expect='{"result":{"message":"Hello, World!"},"stdout":""}'
out=$(./embed "$src/examples/hello.py" 2>err)
rc=$?
[ $rc = 0 ] && [ "$out" = "$expect" ] && grep -qx 'outcome: success, HTTP 200, exit 0' err
ok $? "embed examples/hello.py prints the hello response and a success outcome, exit 0" \
	"exit $rc; stdout: $out; stderr: $(head -c 2000 err)"

out=$(./embed 2>err)
rc=$?
[ $rc = 0 ] && [ "$out" = "$expect" ]
ok $? "embed without an argument runs its built-in hello world" \
	"exit $rc; stdout: $out; stderr: $(head -c 2000 err)"

out=$(./embed "$src/examples/exception.py" 2>err)
rc=$?
[ $rc = 1 ] && [[ "$out" == *'"type":"ScriptError"'* ]] &&
	[[ "$out" == *'"stdout":"before the error\n"'* ]] &&
	grep -qx 'outcome: ScriptError, HTTP 422, exit 1' err
ok $? "embed examples/exception.py: a ScriptError response, exit 1" \
	"exit $rc; stdout: $out; stderr: $(head -c 2000 err)"

out=$(./embed "$tmp/missing.py" 2>err)
rc=$?
[ $rc = 2 ] && [ -z "$out" ] && grep -q 'No such file' err
ok $? "embed with a missing file: a message, exit 2" \
	"exit $rc; stdout: $out; stderr: $(head -c 2000 err)"

finish
