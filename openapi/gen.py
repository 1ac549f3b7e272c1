#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the OpenAPI document of pexos-httpd from its one source of truth:
openapi.in.json (paths, statuses) with the request and response schemas of
mcp/request.schema.json and mcp/response.schema.json as
components.schemas.Request and Response, and the project's version.

    gen.py TEMPLATE REQUEST RESPONSE VERSION --out FILE
    gen.py TEMPLATE REQUEST RESPONSE VERSION --check COMMITTED

--check exits 1 when the committed document differs from what the sources
make (then run with --out COMMITTED to write it)."""
import json
import sys


def build(template, request, response, version):
    doc = json.load(open(template))
    doc["info"]["version"] = version
    schemas = doc["components"]["schemas"]
    schemas["Request"] = json.load(open(request))
    schemas["Response"] = json.load(open(response))
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv):
    template, request, response, version, mode, path = argv[1:7]
    text = build(template, request, response, version)
    if mode == "--out":
        with open(path, "w") as f:
            f.write(text)
        return 0
    with open(path) as f:
        if f.read() == text:
            return 0
    print(f"{path} differs from what openapi/gen.py makes of its sources; "
          f"write it again: {' '.join(argv[:5])} --out {path}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
