# pexos: {"timeout": 2}
# An endless busy loop must be stopped by the limit and reported as Timeout
# (the harness also checks the answer came within a few seconds of it).
def main():
    while True:
        pass
