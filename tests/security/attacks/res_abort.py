# os.abort() raises SIGABRT in the script's own process: reported as Killed.
import os


def main():
    os.abort()
