#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Embeds a file into C source as a NUL-terminated char array:
    embed.py INPUT OUTPUT SYMBOL"""
import sys

src, dst, sym = sys.argv[1:4]
data = open(src, "rb").read()
if b"\0" in data:
    sys.exit(f"{src}: contains a NUL byte")
with open(dst, "w") as out:
    out.write("/* generated from %s by embed.py; do not edit */\n" % src)
    out.write("const char %s[] = {\n" % sym)
    for i in range(0, len(data), 16):
        out.write("  " + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",\n")
    out.write("  0x00\n};\n")
