# An exception escapes main(): ScriptError, with the message (the token on
# stdin) and a traceback.
import sys


def main():
    raise ValueError("soak " + sys.stdin.read().strip())
