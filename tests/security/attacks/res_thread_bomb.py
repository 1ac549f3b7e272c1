# pexos: {"timeout": 20}
# A thread bomb: start threads that block on an event until starting one
# fails. Threads count against the run's pids limit (64 tasks), so
# threading must refuse with RuntimeError "can't start new thread" (clone
# gets EAGAIN) well before 64; the run itself completes normally after the
# threads are released. Capped at 1024 threads so a missing limit fails the
# test instead of hurting the host.
import threading


def main():
    release, threads, error = threading.Event(), [], None
    try:
        for _ in range(1024):
            t = threading.Thread(target=release.wait, daemon=True)
            t.start()
            threads.append(t)
    except RuntimeError as e:
        error = "%s: %s" % (type(e).__name__, e)
    finally:
        release.set()
        for t in threads:
            t.join()
    return {"error": error, "under 64": len(threads) < 64, "started": len(threads)}
