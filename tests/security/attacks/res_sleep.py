# pexos: {"timeout": 2}
# A script that sleeps uses no CPU: only the wall-clock limit can stop it,
# and it must, as Timeout naming the wall-clock limit.
import time


def main():
    time.sleep(10)
    return {"slept": True}
