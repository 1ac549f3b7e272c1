#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Embeds a file into C source as a char array:
    embed.py INPUT OUTPUT SYMBOL          text: NUL-terminated, no NUL inside
    embed.py INPUT OUTPUT SYMBOL binary   any bytes; SYMBOL_len is the size"""
import sys

src, dst, sym = sys.argv[1:4]
binary = len(sys.argv) > 4 and sys.argv[4] == "binary"
data = open(src, "rb").read()
if not binary and b"\0" in data:
    sys.exit(f"{src}: contains a NUL byte")
with open(dst, "w") as out:
    out.write("/* generated from %s by embed.py; do not edit */\n" % src)
    out.write("const char %s[] = {\n" % sym)
    for i in range(0, len(data), 16):
        out.write("  " + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",\n")
    out.write("  0x00\n};\n")
    if binary:
        out.write("const unsigned long %s_len = %d;\n" % (sym, len(data)))
