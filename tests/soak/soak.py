#!/usr/bin/python3
"""A mixed soak of pexos-httpd: N clients send, for a while, requests
picked at random from a mix of well-behaved and hostile scripts
(KINDS below), and every answer is checked against what SPEC §3
says that script must get. Before and after, what the daemon holds on the
host is counted (tests/soak/daemon.py); during, its RSS and fd count are
sampled every second and must stay flat.

usage: /usr/bin/python3 tests/soak/soak.py [--duration S] [--concurrency N]
           [--workers N] [--mix NAME=WEIGHT,...] [--httpd PATH] [--json FILE]
           [--seed N] [--keep DIR] [--tap]

Prints a table per kind (sent, as expected, Busy, failures, latencies),
the census table (before/after), then `soak: PASS` or `soak: FAIL
(reasons)`; exit 0 or 1 (77 with --tap when the daemon binary is missing
and PEXOS_MUST_WORK is not 1). On a failure the daemon's log, the samples
and the report are saved under /tmp (or --keep DIR) and the path printed.

A failure is any answer but the expected one or 503 Busy with Retry-After:
a refused connection (the time of the first and how many), a reset, a
client timeout (the request's own limit plus the time its queue can
take, see client_timeout()), a wrong status or type, a body that is not
strict JSON; and after the run a count that differs, a daemon that grew,
or one that does not exit 0 on SIGTERM within its grace."""
import argparse
import errno
import http.client
import json
import os
import random
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import daemon as soakd  # noqa: E402
from harness import NotStrictJSON, binary_missing, same, strict_loads  # noqa: E402

# Slack on the daemon's own run time (Server-Timing run;dur) over a
# request's limit: setup, teardown and a loaded 2-core host.
RUN_SLACK_S = 5.0
# Longest a background process may outlive the answer of its run.
BACKGROUND_GONE_S = 3.0


def example_answer(name):
    """The answer examples/NAME.expect.json states (result and stdout)."""
    with open(os.path.join(ROOT, "examples", name + ".expect.json")) as f:
        return json.load(f)


def expect_ok(result=None, check=None, stdout=None):
    """An answer 200 whose result equals `result` (typed; None: any), whose
    stdout equals `stdout` (None: any) and that passes `check(response,
    token) -> problem or None`."""
    def verify(status, body, token):
        if status != 200:
            return f"status {status}, want 200"
        if "result" not in body or "stdout" not in body:
            return "no result or stdout"
        if result is not None and not same(body["result"], result):
            return f"result {json.dumps(body['result'])[:200]}"
        if stdout is not None and body["stdout"] != stdout:
            return f"stdout {body['stdout'][:100]!r}"
        return check(body, token) if check else None
    return verify


def expect_example(name):
    return expect_ok(**example_answer(name))


def expect_error(status_want, type_want, check=None):
    def verify(status, body, token):
        if status != status_want or body.get("type") != type_want:
            return f"status {status} type {body.get('type')}, want {status_want} {type_want}"
        if not isinstance(body.get("error"), str) or not body["error"]:
            return "no error message"
        return check(body, token) if check else None
    return verify


def fork_check(body, token):
    r = body["result"]
    if r.get("errno") != "EAGAIN" or r.get("under 64") is not True:
        return f"fork bomb not stopped by the pids limit: {r}"
    return None


def flood_check(body, token):
    if body.get("stdout_truncated") is not True:
        return "stdout_truncated missing"
    if len(body["stdout"]) != 1 << 20 or body["stdout"].strip("x"):
        return f"stdout of {len(body['stdout'])} chars, want 1048576 x"
    return None


def disk_check(body, token):
    for directory, r in body["result"].items():
        if (r.get("errno") != "ENOSPC" or r.get("within 64 MiB") is not True
                or r.get("at least 56 MiB") is not True):
            return f"{directory} not stopped at its 64 MiB: {r}"
    return None


def background_check(body, token):
    if body["result"] != {"left": token}:
        return f"result {body['result']}"
    # The run's end must take its processes along: by the time the answer
    # is out, or within BACKGROUND_GONE_S of it.
    deadline = time.monotonic() + BACKGROUND_GONE_S
    while True:
        pids = soakd.find_comm(token)
        if not pids:
            return None
        if time.monotonic() > deadline:
            return f"background process {token} survived its run: host pids {pids}"
        time.sleep(0.1)


def raises_check(body, token):
    if body["error"] != f"ValueError: soak {token}":
        return f"error {body['error']!r}"
    if "raise ValueError" not in body.get("traceback", ""):
        return "no traceback naming the raise"
    return None


def timeout_check(body, token):
    if "limit of 2 s" not in body["error"]:
        return f"error {body['error']!r} names no 2 s limit"
    return None


def memory_check(body, token):
    if "64 MiB" not in body["error"]:
        return f"error {body['error']!r} names no 64 MiB limit"
    return None


ATTACKS = "tests/security/attacks/"
# name: (script, relative to the repository; request fields; verify; sends
# a token on stdin). The hostile ones are the attack scripts of
# tests/security (whose own limits, 20 s, are lowered here so that each
# kind ends within a few seconds); the answers are those of SPEC §3 and
# §5: the fork bomb, the disk fill and the output flood are not errors.
KINDS = {
    "hello": ("examples/hello.py", {"timeout": 5}, expect_example("hello"), False),
    "pandas": ("examples/pandas_describe.py", {"timeout": 5},
               expect_example("pandas_describe"), False),
    "fork_bomb": (ATTACKS + "res_fork_bomb.py", {"timeout": 5},
                  expect_ok(check=fork_check), False),
    "memory_bomb": (ATTACKS + "res_memory_bomb.py", {"timeout": 5, "memory_mb": 64},
                    expect_error(422, "MemoryLimit", memory_check), False),
    "loop": (ATTACKS + "res_cpu_loop.py", {"timeout": 2},
             expect_error(422, "Timeout", timeout_check), False),
    "flood": (ATTACKS + "res_stdout_flood.py", {"timeout": 5},
              expect_ok({"written": 10485760}, flood_check), False),
    "disk_fill": (ATTACKS + "res_disk_fill.py", {"timeout": 5},
                  expect_ok(check=disk_check), False),
    "background": ("tests/soak/scripts/background.py", {"timeout": 5},
                   expect_ok(check=background_check), True),
    "raises": ("tests/soak/scripts/raises.py", {"timeout": 5},
               expect_error(422, "ScriptError", raises_check), True),
}


def parse_mix(text):
    if not text:
        return {k: 1.0 for k in KINDS}
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise SystemExit(f"soak: unknown kind {name!r}; kinds: {', '.join(KINDS)}")
        mix[name] = float(weight) if weight else 1.0
        if mix[name] < 0:
            raise SystemExit(f"soak: negative weight for {name}")
    if not any(mix.values()):
        raise SystemExit("soak: every weight is 0")
    return mix


def client_timeout(fields, workers, queue):
    """How long a client waits for its answer: its own limit, the longest
    the queue ahead of it can legitimately take (`queue` requests, each
    up to the longest limit of the mix plus slack, `workers` at once),
    and 10 s of margin. Past that, the daemon is hanging."""
    longest = max(f.get("timeout", 30) for _, f, _, _ in KINDS.values()) + RUN_SLACK_S
    waves = -(-queue // workers)
    return fields.get("timeout", 30) + waves * longest + 10


class Record:
    __slots__ = ("kind", "t", "latency", "outcome", "status", "detail",
                 "run_s", "queue_s")

    def __init__(self, kind, t):
        self.kind, self.t = kind, t
        self.latency = self.status = self.detail = None
        self.run_s = self.queue_s = None
        self.outcome = None  # "ok", "busy" or "fail"


def server_timing(value):
    """{"queue": s, "run": s, "total": s} from a Server-Timing header."""
    out = {}
    for part in (value or "").split(","):
        name, _, dur = part.strip().partition(";dur=")
        try:
            out[name] = float(dur) / 1000
        except ValueError:
            pass
    return out


def one_request(port, kind, body, token, timeout, t0):
    script, fields, verify, _ = KINDS[kind]
    rec = Record(kind, time.monotonic() - t0)
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/execute", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        rec.status = r.status
        headers = {k.lower(): v for k, v in r.getheaders()}
    except socket.timeout:
        rec.outcome, rec.detail = "fail", f"client timeout after {timeout:.0f} s"
        return rec
    except OSError as e:
        name = errno.errorcode.get(e.errno, type(e).__name__) if e.errno else type(e).__name__
        rec.outcome, rec.detail = "fail", f"{name}: {e}"
        return rec
    except http.client.HTTPException as e:
        rec.outcome, rec.detail = "fail", f"{type(e).__name__}: {e}"
        return rec
    finally:
        rec.latency = time.monotonic() - start
        conn.close()
    timing = server_timing(headers.get("server-timing"))
    rec.run_s, rec.queue_s = timing.get("run"), timing.get("queue")
    try:
        answer = strict_loads(data.decode("utf-8"))
        if not isinstance(answer, dict):
            raise ValueError("not an object")
    except (UnicodeDecodeError, ValueError, NotStrictJSON) as e:
        rec.outcome = "fail"
        rec.detail = f"malformed body ({e}): {data[:300]!r}"
        return rec
    if rec.status == 503 and answer.get("type") == "Busy":
        if headers.get("retry-after", "").strip().isdigit():
            rec.outcome = "busy"
            rec.detail = int(headers["retry-after"])
        else:
            rec.outcome = "fail"
            rec.detail = f"Busy without a Retry-After: {headers}"
        return rec
    problem = verify(rec.status, answer, token)
    limit = fields.get("timeout", 30)
    if not problem and rec.run_s is not None and rec.run_s > limit + RUN_SLACK_S:
        problem = f"the run took {rec.run_s:.1f} s, past its {limit} s limit"
    if problem:
        rec.outcome = "fail"
        rec.detail = f"{problem}; body {data[:300]!r}"
    else:
        rec.outcome = "ok"
    return rec


def bodies():
    out = {}
    for kind, (script, fields, _, _) in KINDS.items():
        with open(os.path.join(ROOT, script)) as f:
            out[kind] = {"script": f.read(), **fields}
    return out


def client(i, port, mix, seed, deadline, t0, records, lock, timeouts):
    rng = random.Random(seed * 1000 + i)
    names, weights = list(mix), list(mix.values())
    reqs = bodies()
    n = 0
    while time.monotonic() < deadline:
        kind = rng.choices(names, weights)[0]
        req = dict(reqs[kind])
        token = None
        if KINDS[kind][3]:
            # 15 characters at most: it is also a process name (comm).
            token = f"sk{i:02d}{n:05d}{rng.randrange(16**4):04x}"[:15]
            req["stdin"] = token
        n += 1
        rec = one_request(port, kind, json.dumps(req).encode(), token,
                          timeouts[kind], t0)
        with lock:
            records.append(rec)
        if rec.outcome == "busy":
            time.sleep(min(rec.detail, 2))
        elif rec.outcome == "fail" and "ECONNREFUSED" in (rec.detail or ""):
            time.sleep(0.2)  # keep counting, without a busy loop


TAP = False


def say(text=""):
    """Prints lines for people; under --tap each as a TAP comment."""
    for line in str(text).split("\n"):
        print(("# " + line) if TAP and line else line, flush=True)


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def kind_table(records, mix):
    rows = [f"{'kind':12} {'sent':>6} {'as exp.':>8} {'busy':>6} {'fail':>6} "
            f"{'p50 s':>7} {'p95 s':>7} {'max s':>7}"]
    stats = {}
    for kind in list(mix) + ["total"]:
        rs = [r for r in records if kind == "total" or r.kind == kind]
        lat = [r.latency for r in rs if r.outcome == "ok"]
        s = {"sent": len(rs),
             "ok": sum(r.outcome == "ok" for r in rs),
             "busy": sum(r.outcome == "busy" for r in rs),
             "fail": sum(r.outcome == "fail" for r in rs),
             "p50": percentile(lat, 50), "p95": percentile(lat, 95),
             "max": max(lat) if lat else None}
        stats[kind] = s
        fmt = lambda x: f"{x:7.2f}" if x is not None else f"{'-':>7}"  # noqa: E731
        rows.append(f"{kind:12} {s['sent']:6d} {s['ok']:8d} {s['busy']:6d} "
                    f"{s['fail']:6d} {fmt(s['p50'])} {fmt(s['p95'])} {fmt(s['max'])}")
    return "\n".join(rows), stats


def group_failures(fails):
    """{cause: records, in time order}: the cause is the error name of a
    connection failure, else the problem found in the answer (without
    the body or figures it quotes)."""
    groups = {}
    for r in sorted(fails, key=lambda r: r.t):
        d = str(r.detail)
        cause = d.split(":")[0] if r.status is None else \
            f"{r.kind} {r.status}: " + d.split(";")[0].split(":")[0][:60]
        groups.setdefault(cause, []).append(r)
    return groups


def refused_summary(records):
    bad = [r for r in records if r.outcome == "fail" and "ECONNREFUSED" in (r.detail or "")]
    if not bad:
        return None
    return {"first_s": round(min(r.t for r in bad), 2), "count": len(bad),
            "answered_before": sum(1 for r in records
                                   if r.outcome != "fail" and r.t < min(x.t for x in bad))}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=180,
                   help="seconds of load (default 180)")
    p.add_argument("--concurrency", type=int, default=8,
                   help="clients at once, each sending one request after the other (default 8)")
    p.add_argument("--workers", type=int, default=2, help="the daemon's --workers (default 2)")
    p.add_argument("--mix", default="",
                   help="NAME=WEIGHT,... of " + ", ".join(KINDS) + " (default: all, equally)")
    p.add_argument("--httpd", default=os.path.join(ROOT, "build", "httpd", "pexos-httpd"),
                   help="the daemon (default: build/httpd/pexos-httpd of this checkout)")
    p.add_argument("--json", dest="json_out", metavar="FILE", help="write the figures here")
    p.add_argument("--seed", type=int, default=None,
                   help="of the clients' random choices (default: from the clock; printed)")
    p.add_argument("--keep", help="save the daemon's log and the samples here, always")
    p.add_argument("--tap", action="store_true", help="also print TAP (for meson)")
    p.add_argument("--no-rss-check", dest="rss_check", action="store_false",
                   help="sample RSS but do not judge it (under ASan, whose quarantine "
                   "keeps freed memory by design; LeakSanitizer judges at exit)")
    p.add_argument("--settle", type=float, default=3.0,
                   help="idle seconds before the final census (default 3)")
    return p.parse_args(argv)


def run(a, mix, seed, reasons):
    """Starts the daemon, counts, loads, samples, counts again, stops it.
    Returns what was gathered; a step that fails adds to `reasons` and the
    steps after it that need it are skipped."""
    g = {"records": [], "before": None, "after": None, "sampler": None,
         "elapsed": 0.0, "rc": None, "stop_s": 0.0, "daemon": None,
         "t0": None}
    try:
        d = g["daemon"] = soakd.start(a.httpd, a.workers)
    except soakd.DaemonFailed as e:
        reasons.append(f"the daemon did not start: {e}")
        return g
    pid, port = d.proc.pid, d.port
    queue = 4 * a.workers  # the daemon's default --queue
    timeouts = {k: client_timeout(KINDS[k][1], a.workers, queue) for k in KINDS}
    try:
        ready = soakd.wait_pool_ready(d)
        say(f"soak: daemon pid {pid} port {port} up in {d.start_s:.1f} s, pool "
            f"{ready['pool'].get('size')}, limits {ready['isolation'].get('limits')}, "
            f"client timeouts {min(timeouts.values()):.0f}-{max(timeouts.values()):.0f} s")
        g["before"] = soakd.stable_count(pid)
        lock = threading.Lock()
        t0 = g["t0"] = time.monotonic()
        deadline = t0 + a.duration
        g["sampler"] = soakd.Sampler(pid, port, t0=t0).start()
        threads = [threading.Thread(target=client, daemon=True,
                                    args=(i, port, mix, seed, deadline, t0,
                                          g["records"], lock, timeouts))
                   for i in range(a.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        g["elapsed"] = time.monotonic() - t0
        g["sampler"].stop()
        soakd.settle(d, idle=a.settle)
        g["after"] = soakd.stable_count(pid)
    except (soakd.DaemonFailed, OSError, ValueError) as e:
        reasons.append(f"{type(e).__name__}: {e}")
        if g["before"] and not g["after"] and d.alive():
            g["after"] = soakd.stable_count(pid)
    finally:
        if g["sampler"]:
            g["sampler"].stop()
        g["rc"], g["stop_s"] = soakd.stop(d)
    return g


def report_answers(g, mix, reasons):
    records, elapsed = g["records"], max(g["elapsed"], 1e-9)
    table, stats = kind_table(records, mix)
    say(f"\nrequests: {len(records)} in {elapsed:.0f} s "
        f"({len(records) / elapsed:.1f}/s)\n{table}")
    fails = [r for r in records if r.outcome == "fail"]
    if fails:
        reasons.append(f"{len(fails)} answers not as expected")
        say("\nfailures, by cause: count, first and last time, kinds, first example")
        for cause, rs in group_failures(fails).items():
            kinds = sorted({r.kind for r in rs})
            say(f"  {len(rs):5d} x {cause}: t={rs[0].t:.2f}..{rs[-1].t:.2f} s, "
                f"{','.join(kinds)}\n        status {rs[0].status}: {str(rs[0].detail)[:400]}")
    refused = refused_summary(records)
    if refused:
        reasons.append(f"connection refused from t={refused['first_s']} s on "
                       f"({refused['count']} requests, {refused['answered_before']} "
                       "answered before)")
        t = g["t0"] + refused["first_s"]
        say(f"\nthe daemon's log from t={refused['first_s'] - 5:.1f} to "
            f"{refused['first_s'] + 2:.1f} s:")
        for when, line in g["daemon"].lines_between(t - 5, t + 2)[-40:]:
            say(f"  {when - g['t0']:8.2f} {line[:300]}")
    lost = g["sampler"].refused() if g["sampler"] else None
    if lost:
        reasons.append(f"the port refused a connect at t={lost[0]} s ({lost[2]}, "
                       f"{lost[1]} of {len(g['sampler'].samples)} samples)")
    return stats, fails, refused


def report_census(g, reasons):
    before, after = g["before"], g["after"]
    if not before or not after:
        reasons.append("the census before or after the load is missing")
        return []
    say("\n" + soakd.leak_table(before, after))
    leaks = soakd.compare(before, after)
    reasons += leaks
    for name in ("daemon descendants", "daemon fds", "cgroups (daemon's)"):
        gone = sorted(set(before["details"][name]) - set(after["details"][name]))
        new = sorted(set(after["details"][name]) - set(before["details"][name]))
        if len(gone) != len(new):
            say(f"  {name}: new {new[:8]}, gone {gone[:8]}")
    # A run's script lives in the run's own /tmp: one of ours on the
    # host's would mean a run wrote there.
    hs = soakd.host_script()
    for kind, req in bodies().items():
        if hs is not None and hs == req["script"].encode():
            leaks.append(f"the host's {soakd.RUN_SCRIPT} holds the {kind} script")
            reasons.append(leaks[-1])
    new_temp = soakd.new_temp_names(before, after)
    if new_temp:
        # The host is shared: only names that say pexos are worth showing.
        named = [p for p in new_temp if "pexos" in p]
        say(f"  new entries in {', '.join(soakd.TEMP_DIRS)} (host-wide, info): "
            f"{len(new_temp)}" + (f", named pexos: {named[:6]}" if named else ""))
    return leaks


def report_samples(sampler, reasons, rss_check=True):
    if not sampler:
        return
    say(f"\nsampled every 1 s ({len(sampler.samples)} samples): "
        f"min/first/last/max, first-quarter max -> last-quarter max")
    for key, unit in (("rss_kb", "KiB"), ("fds", ""), ("threads", ""),
                      ("descendants", "")):
        s, q = sampler.summary(key), sampler.quarter_max(key)
        if s:
            say(f"  {key:12} {s['min']}/{s['first']}/{s['last']}/{s['max']} {unit}"
                + (f"   {q[0]} -> {q[1]}" if q else ""))
    margins = dict(soakd.FLAT_MARGINS)
    if not rss_check:
        del margins["rss_kb"]
        say("  (RSS not judged: --no-rss-check)")
    reasons += sampler.flat_problems(margins)


def print_tap(reasons, leaks, rss_check):
    groups = [
        ("every answer as expected or Busy with Retry-After",
         lambda x: "answers" in x or "refused" in x),
        ("nothing left behind (processes, cgroups, mounts, temp files, fds)",
         lambda x: x in leaks or "census" in x),
        ("RSS and fd count flat" if rss_check else
         "fd count flat (RSS not judged: --no-rss-check)", lambda x: " grew:" in x),
        ("SIGTERM: exit 0 within the grace", lambda x: x.startswith("SIGTERM")),
    ]
    seen = set()
    for n, (what, pred) in enumerate(groups, 1):
        probs = [x for x in reasons if pred(x)]
        seen.update(probs)
        print(f"{'not ok' if probs else 'ok'} {n} - {what}")
        for x in probs:
            print(f"#   {x}")
    other = [x for x in reasons if x not in seen]
    print(f"{'not ok' if other else 'ok'} 5 - the daemon started, served and settled")
    for x in other:
        print(f"#   {x}")
    print("1..5")


def main(argv):
    global TAP
    a = parse_args(argv)
    TAP = a.tap
    if a.tap:
        missing = binary_missing(a.httpd)
        if missing is not None:
            return missing
    mix = {k: w for k, w in parse_mix(a.mix).items() if w > 0}
    seed = a.seed if a.seed is not None else int(time.time()) % 100000
    say(f"soak: {a.httpd}, {a.duration:.0f} s, {a.concurrency} clients, "
        f"--workers {a.workers}, seed {seed}, mix "
        + ",".join(f"{k}={w:g}" for k, w in mix.items()))
    reasons = []
    g = run(a, mix, seed, reasons)
    stats, fails, refused = report_answers(g, mix, reasons)
    leaks = report_census(g, reasons)
    report_samples(g["sampler"], reasons, a.rss_check)
    if g["daemon"]:
        say(f"\nSIGTERM: exit {g['rc']} after {g['stop_s']:.1f} s")
        if g["rc"] != 0:
            reasons.append(f"SIGTERM: exit status {g['rc']} after {g['stop_s']:.1f} s "
                           "(want 0 within the grace)")

    s = g["sampler"]
    figures = {
        "httpd": a.httpd, "duration_s": round(g["elapsed"], 1),
        "concurrency": a.concurrency, "workers": a.workers, "seed": seed,
        "mix": mix, "requests": len(g["records"]), "kinds": stats,
        "before": g["before"] and g["before"]["counts"],
        "after": g["after"] and g["after"]["counts"],
        "samples": s and {k: s.summary(k) for k in ("rss_kb", "fds", "threads", "descendants")},
        "quarters": s and {k: s.quarter_max(k) for k in ("rss_kb", "fds")},
        "refused": refused, "sigterm": {"exit": g["rc"], "seconds": round(g["stop_s"], 2)},
        "failures": [{"t": round(r.t, 2), "kind": r.kind, "status": r.status,
                      "detail": str(r.detail)[:1000]} for r in fails[:200]],
        "reasons": reasons,
    }
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(figures, f, indent=1)
    if g["daemon"] and (reasons or a.keep):
        where = a.keep or (f"/tmp/pexos-soak-{time.strftime('%Y%m%d-%H%M%S')}-"
                           f"{g['daemon'].proc.pid}")
        extra = dict(figures, before_details=g["before"] and g["before"]["details"],
                     after_details=g["after"] and g["after"]["details"])
        soakd.save_evidence(where, g["daemon"], s.samples if s else [], extra,
                            t0=g["t0"])
        say(f"soak: the daemon's log, the samples and the report are in {where}")
    if a.tap:
        print_tap(reasons, leaks, a.rss_check)
    verdict = "soak: PASS" if not reasons else f"soak: FAIL ({'; '.join(reasons)})"
    say(verdict)
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
