# pexos container image: a build stage compiles pexos, the runtime stage has
# only the shared libraries, Debian's python3 + numpy + pandas (+ matplotlib
# with PYTHON_EXTRA, below) and pexos.
#
#   podman build -t pexos .          (or docker build)
#   podman run --rm --security-opt unmask=ALL --security-opt seccomp=unconfined \
#     --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw -p 8080:8080 pexos
#
# The entry point is pexos-httpd, listening on $PORT (8080 unless set, as
# Cloud Run sets it). For the CLI: --entrypoint pexos-run ... --check.
#
# (docker: --security-opt systempaths=unconfined for unmask=ALL.) Why each
# flag is needed: the README / pexos(7) on containers; tests/container/run.sh
# checks them, and that pexos refuses without each one.

ARG DEBIAN=debian:bookworm-slim

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

# -------------------------------------------------------------- runtime ----
FROM ${DEBIAN}
# Debian packages scripts may import beyond numpy and pandas. matplotlib is
# left out by default: with Debian's dependencies (sympy, unicode-data, ICU,
# Tk, through python3-fonttools and python3-pil.imagetk) the image grows
# from 206 to 503 MB, and even without those it would be about 275 MB,
# over the 250 MB this image keeps to. For an image with it:
#   podman build --build-arg PYTHON_EXTRA="python3-matplotlib python3-munkres" .
# (python3-munkres: apt then meets fonttools' "python3-scipy |
# python3-munkres" with the small one; scipy brings 200 MB more.)
ARG PYTHON_EXTRA=""
# numpy's, pandas' (and matplotlib's) own test suites (about 50 MB with
# their byte code) are never imported by scripts: deleted in the same layer.
# The rest of the byte code stays: the sandbox's /usr is read-only, so
# without it every run would compile numpy and pandas again.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libjansson4 libseccomp2 libcap2 libmicrohttpd12 \
      python3 python3-numpy python3-pandas netbase media-types ca-certificates \
      ${PYTHON_EXTRA} \
 && find /usr/lib/python3/dist-packages/numpy /usr/lib/python3/dist-packages/pandas \
      $(ls -d /usr/lib/python3/dist-packages/matplotlib 2>/dev/null) \
      -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
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
