# bare.py SCRIPT: run a pexos script's main() on the bare interpreter and
# print its result as JSON, as tests/compat/run does outside the sandbox.
import json
import os
import sys


def run(path):
    with open(path) as f:
        code = compile(f.read(), "script.py", "exec")
    scope = {"__name__": "script", "__file__": "script.py"}
    exec(code, scope)
    result = scope["main"]()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # threads a test left behind must not hold the exit


# multiprocessing's spawn and forkserver import this file again in their
# children, as __mp_main__: only the top run runs the script.
if __name__ == "__main__":
    run(sys.argv[1])
