#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Python side's copy of proto.h's numbers.

Each .py file of the library that speaks a protocol has a block

    # proto: begin (...)
    FD_RESULT = 3
    # proto: end

holding, for every `#define PROTO_NAME value` of proto.h whose NAME the file
uses outside the block, the line `NAME = value` (a character constant
becomes a one-byte bytes object, a string constant a str). This program
writes that block:

    proto_py.py PROTO_H FILE.py --write     rewrite FILE.py in place
    proto_py.py PROTO_H FILE.py --check     exit 1 if FILE.py's block differs
    proto_py.py PROTO_H FILE.py --out OUT   FILE.py with the block, to OUT

The build embeds the --out copy; the unit test proto/python runs --check on
the committed files."""
import re
import sys

BEGIN = "# proto: begin (generated from lib/proto.h by lib/proto_py.py; " \
        "do not edit)"
END = "# proto: end"


def constants(header):
    out = {}
    for m in re.finditer(
            r"^#define PROTO_(\w+)\s+(0x[0-9a-fA-F]+|\d+|'.'|\"[^\"\\]*\")",
            header, re.M):
        name, value = m.groups()
        if value.startswith("'"):
            out[name] = f'b"{value[1]}"'
        elif value.startswith('"'):
            out[name] = value
        else:
            out[name] = str(int(value, 0))
    return out


def rewrite(source, consts, path):
    lines = source.split("\n")
    try:
        b = lines.index(BEGIN)
        e = lines.index(END, b)
    except ValueError:
        sys.exit(f"{path}: no '{BEGIN}' ... '{END}' block")
    rest = "\n".join(lines[:b] + lines[e + 1:])
    used = [n for n in consts if re.search(rf"\b{n}\b", rest)]
    block = [BEGIN] + [f"{n} = {consts[n]}" for n in used] + [END]
    return "\n".join(lines[:b] + block + lines[e + 1:])


def main(argv):
    if len(argv) < 4 or argv[3] not in ("--write", "--check", "--out"):
        sys.exit(__doc__)
    header, path, mode = argv[1], argv[2], argv[3]
    consts = constants(open(header).read())
    source = open(path).read()
    new = rewrite(source, consts, path)
    if mode == "--check":
        if new != source:
            print(f"{path}: its proto block differs from {header}; run "
                  f"lib/proto_py.py {header} {path} --write", file=sys.stderr)
            return 1
        return 0
    with open(path if mode == "--write" else argv[4], "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
