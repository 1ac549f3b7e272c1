# Symlinks planted in the writable /tmp that point "out": to init's root
# (/proc/1/root/etc), to the script's own root (/proc/self/root), up the tree
# (../../.. and /proc/self/cwd/../..). Following them never leaves the
# sandbox: /proc/1/root belongs to the sandbox's init (uid 0 inside), so the
# script is refused (EACCES; a design where the script may look would have to
# show the sandbox's own /etc there); the others lead to the sandbox's own
# root, whose listing equals "/" and has no host directory (home, root,
# work, ...). Nothing outside /tmp is writable through them: a rename in the
# directory behind the link gives EROFS (the read-only mount is checked before
# the source name is looked up), opening /etc/passwd for writing EACCES (the
# generated file is not the sandbox user's).
# Harmless even where the sandbox failed: links live in /tmp and are removed,
# the rename's source does not exist (a writable directory answers ENOENT and
# nothing is created), /etc/passwd is opened O_APPEND and never written.
import errno
import os
import secrets

HOST_DIRS = {"home", "root", "work", "var", "srv", "opt", "mnt", "media", "boot", "sys", "run",
             "snap", "nix"}
LINKS = {
    "init root /etc": "/proc/1/root/etc",
    "own root": "/proc/self/root",
    "../../..": "../../..",
    "/proc/self/cwd/../..": "/proc/self/cwd/../..",
    "/proc/self/root/../../..": "/proc/self/root/../../..",
}


def err(e):
    return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def main():
    root, etc = sorted(os.listdir("/")), sorted(os.listdir("/etc"))
    out, seen_host = {}, []
    tag = secrets.token_hex(4)
    for label, target in LINKS.items():
        link = "/tmp/link-%s-%d" % (tag, len(out))
        os.symlink(target, link)
        try:
            names = sorted(os.listdir(link))
            seen_host += [n for n in names if n in HOST_DIRS]
            if names == root:
                listing = "sandbox root"
            elif names == etc:
                listing = "sandbox /etc"
            else:
                listing = names
        except OSError as e:
            listing = err(e)
        src = os.path.join(link, "pexos-attack-%s-nonexistent" % tag)
        try:
            os.rename(src, src + "-moved")
            rename = "succeeded"
        except OSError as e:
            rename = err(e)
        out[label] = {"list": listing, "rename inside": rename}
        os.unlink(link)
    link = "/tmp/etc-%s" % tag
    os.symlink("/proc/self/root/etc", link)
    try:
        os.close(os.open(link + "/passwd", os.O_WRONLY | os.O_APPEND))
        out["open passwd for writing via /proc/self/root"] = "opened"
    except OSError as e:
        out["open passwd for writing via /proc/self/root"] = err(e)
    os.unlink(link)
    out["host directories seen"] = sorted(set(seen_host))
    return out
