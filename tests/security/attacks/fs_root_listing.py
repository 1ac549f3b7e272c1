# What the root filesystem holds: only the interpreter's binds, /etc, /proc,
# /dev and /tmp (plus merged-usr symlinks). Anything else is a host
# directory leaking in. /etc holds only the generated minimal files.
import os

ROOT_ALLOWED = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}
# alternatives: Debian's symlink farm into /usr (e.g. awk, pager); no data.
# services ... matplotlibrc: public files ordinary calls read (mounts.c);
# matplotlib: the font list pexos builds (fontcache.c).
ETC_ALLOWED = {"passwd", "group", "hosts", "hostname", "nsswitch.conf", "ld.so.cache", "localtime",
               "resolv.conf", "alternatives", "services", "protocols", "mime.types", "ssl", "fonts",
               "matplotlibrc", "matplotlib"}
# /etc/ssl: the CA store and OpenSSL's configuration, never private/.
SSL_ALLOWED = {"certs", "openssl.cnf"}


def main():
    root = sorted(os.listdir("/"))
    etc = sorted(os.listdir("/etc"))
    ssl = sorted(os.listdir("/etc/ssl")) if "ssl" in etc else []
    fonts = sorted(os.listdir("/etc/matplotlib")) if "matplotlib" in etc else []
    return {
        "unexpected in /": [n for n in root if n not in ROOT_ALLOWED],
        "unexpected in /etc": [n for n in etc if n not in ETC_ALLOWED],
        "unexpected in /etc/ssl": [n for n in ssl if n not in SSL_ALLOWED],
        "unexpected in /etc/matplotlib": [n for n in fonts if not n.startswith("fontlist-")],
        "root": root,
        "etc": etc,
    }
