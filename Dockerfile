# pexos container image: a build stage compiles pexos, the runtime stage has
# only the shared libraries, Debian's python3 + numpy + pandas (+ matplotlib
# with PYTHON_EXTRA, below) and pexos. Debian 13 (trixie: Python 3.13,
# numpy 2, pandas 2.2) by default; Debian 12 (Python 3.11, numpy 1.24,
# pandas 1.5) with --build-arg DEBIAN=debian:bookworm-slim.
#
#   podman build -t pexos .          (or docker build)
#   podman run --rm -p 8080:8080 --security-opt 'unmask=/proc/*' \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined pexos
#   docker run --rm -p 8080:8080 --security-opt systempaths=unconfined \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined pexos
#
# Those are for cgroup v2 hosts: pexos works inside the container's own,
# read-only, cgroup (it mounts it again read-write privately). On a cgroup
# v1 host add --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw. Why each
# flag: the README and pexos(7) on containers; tests/vm/containers runs the
# README's lines on Debian 13 (cgroup v2) and checks that pexos refuses,
# naming it, without each one; tests/container/run.sh the v1 variant.
#
# The entry point is pexos-httpd, listening on $PORT (8080 unless set, as
# Cloud Run sets it). For the CLI: -i --entrypoint pexos-run ... --check.

ARG DEBIAN=debian:trixie-slim

# ---------------------------------------------------------------- build ----
FROM ${DEBIAN} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      meson ninja-build pkg-config gcc libc6-dev python3 \
      libjansson-dev libseccomp-dev libcap-dev libmicrohttpd-dev scdoc \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# pexos goes to /opt/pexos, outside /usr: the sandbox binds the image's /usr
# read-only into every run, and pexos's own files must not be visible there.
# An rpath finds libpexos, so ld.so.cache (also copied into every run) does
# not name /opt/pexos either.
RUN meson setup /build -Dtests=false --buildtype=release \
      --prefix=/opt/pexos --libdir=lib -Dc_link_args=-Wl,-rpath,/opt/pexos/lib \
 && ninja -C /build \
 && DESTDIR=/out meson install -C /build \
 && rm -rf /out/opt/pexos/include /out/opt/pexos/lib/pkgconfig /out/opt/pexos/lib/libpexos.so \
      /out/opt/pexos/share
# The Debian packages that hold the shared libraries the installed programs
# load, for the runtime stage: found here, not named there, since their
# names change between releases (Debian 13's 64-bit time_t transition made
# libmicrohttpd12 libmicrohttpd12t64). ldd names a library by the path
# ld.so found; dpkg may list it under /lib or /usr/lib (merged /usr), so
# both are tried. A library no package holds fails the build.
RUN set -e; \
    find /out -type f \( -perm -u+x -o -name '*.so*' \) \
      -exec env LD_LIBRARY_PATH=/out/opt/pexos/lib ldd {} \; 2>/dev/null \
      | awk '$2 == "=>" { print $3 }' | grep -v '^/out/' | sort -u >/libs; \
    ! grep -qv '^/' /libs || { echo "unresolved libraries:"; grep -v '^/' /libs; exit 1; }; \
    while read -r lib; do \
      pkg=; for p in "$lib" "/usr${lib#/usr}" "${lib#/usr}" "$(readlink -f "$lib")"; do \
        pkg=$(dpkg -S "$p" 2>/dev/null | cut -d: -f1) && [ -n "$pkg" ] && break; done; \
      [ -n "$pkg" ] || { echo "no package holds $lib" >&2; exit 1; }; echo "$pkg"; \
    done </libs >/packages; \
    sort -u /packages >/runtime-packages; \
    echo "runtime libraries from:" $(cat /runtime-packages)

# -------------------------------------------------------------- runtime ----
FROM ${DEBIAN}
# Debian packages scripts may import beyond numpy and pandas. matplotlib is
# left out by default: with Debian's dependencies (sympy, unicode-data, ICU,
# Tk, through python3-fonttools and python3-pil.imagetk) the image grows
# from 214 to 430 MB on Debian 13 (206 to 503 MB on Debian 12, where even
# without those it would be about 275 MB), over the 250 MB this image
# keeps to. For an image with it:
#   podman build --build-arg PYTHON_EXTRA="python3-matplotlib python3-munkres" .
# (python3-munkres: apt then meets fonttools' "python3-scipy |
# python3-munkres" with the small one; scipy brings 200 MB more.)
ARG PYTHON_EXTRA=""
COPY --from=build /runtime-packages /tmp/
# numpy's, pandas' (and matplotlib's) own test suites (about 50 MB with
# their byte code) are never imported by scripts: deleted in the same layer.
# The rest of the byte code stays: the sandbox's /usr is read-only, so
# without it every run would compile numpy and pandas again.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(cat /tmp/runtime-packages) \
      python3 python3-numpy python3-pandas netbase media-types ca-certificates \
      ${PYTHON_EXTRA} \
 && find /usr/lib/python3/dist-packages/numpy /usr/lib/python3/dist-packages/pandas \
      $(ls -d /usr/lib/python3/dist-packages/matplotlib 2>/dev/null) \
      -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
      /tmp/runtime-packages
COPY --from=build /out/ /
ENV PATH=/opt/pexos/sbin:/opt/pexos/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN ldconfig && pexos-run --help >/dev/null

# pexos must run as the container's root: it writes the id maps of each run
# (scripts run as uid 1000 inside, mapped to 2000000001) and makes cgroups.
USER root
# pexos-httpd: port 8080 by default, or $PORT. Arguments go to it
# (`podman run ... pexos --workers 4`); the CLI is one flag away:
# `podman run -i ... --entrypoint pexos-run pexos - < script.py`.
EXPOSE 8080
ENTRYPOINT ["pexos-httpd"]
