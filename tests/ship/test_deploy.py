#!/usr/bin/python3
"""The deployment and CI examples, checked for real. TAP.

usage: /usr/bin/python3 tests/ship/test_deploy.py SOURCE_DIR [PEXOS_HTTPD]

examples/deploy/k8s/*.yaml: every manifest parses; the Deployment's
  selector matches its pod labels, the Service's selector the pods and its
  targetPort the container's port, the probes ask GET /health on that port,
  the HorizontalPodAutoscaler targets the Deployment by name on CPU; the
  securityContext gives what pexos(7) says a container needs; every
  environment variable is one pexos-httpd accepts (its --help), and
  pexos-httpd really starts with them and reports them on /health; the
  memory limit covers the pool and the runs.
examples/deploy/cloudrun.sh: `bash -n`, --execution-environment gen2, and a
  run against a stand-in gcloud that records its command lines:
  concurrency equal to PEXOS_WORKERS, memory sized for the pool, accepted
  variables; refused settings stop it before any gcloud command.
examples/ci/pexos.yml: parses, installs what pexos.sh installs, runs
  `pexos-run -j 4 --junit report.xml tests/*.py` and uploads the report.

Needs python3-yaml (Debian). Exit: 0 all passed, 1 something failed.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Check, tap_plan, tap_result  # noqa: E402

try:
    import yaml
except ImportError:
    yaml = None

SOURCE = PEXOS_HTTPD = None
WORKDIR = tempfile.mkdtemp(prefix="pexos-test-deploy-")
MUST_WORK = os.environ.get("PEXOS_MUST_WORK") == "1"
ZYGOTE_MIB, SLOT_MIB = 70, 9  # pexos(7), THE WARM POOL


class Skip(Exception):
    pass


# ------------------------------------------------------------------ helpers


def path(*parts):
    return os.path.join(SOURCE, *parts)


def load_all(rel):
    with open(path(rel), encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def manifests():
    folder = path("examples", "deploy", "k8s")
    docs = []
    for name in sorted(os.listdir(folder)):
        if name.endswith((".yaml", ".yml")):
            docs += [(name, d) for d in load_all(os.path.join("examples", "deploy", "k8s", name))]
    return docs


def one(kind):
    found = [d for _, d in manifests() if d.get("kind") == kind]
    if len(found) != 1:
        raise AssertionError(f"want one {kind}, found {len(found)}")
    return found[0]


def httpd_env_names():
    """The variables pexos-httpd --help lists, with PEXOS_TOKEN."""
    if not PEXOS_HTTPD:
        raise Skip("this build has no pexos-httpd")
    out = subprocess.run([PEXOS_HTTPD, "--help"], capture_output=True, timeout=10).stdout
    text = out.decode()
    names = set(re.findall(r"^\s+--[a-z-]+\s+([A-Z_]+)\s", text, re.M))
    if "PEXOS_TOKEN" in text:
        names.add("PEXOS_TOKEN")
    if len(names) < 10:
        raise AssertionError(f"only {len(names)} variables in pexos-httpd --help")
    return names


def mib(quantity):
    """A Kubernetes or gcloud memory quantity in MiB."""
    m = re.fullmatch(r"(\d+)(Mi|Gi|M|G)?", str(quantity))
    if not m:
        raise AssertionError(f"memory quantity {quantity!r} not understood")
    n, unit = int(m.group(1)), m.group(2) or ""
    return {"Mi": n, "Gi": n * 1024, "M": n * 10**6 / 2**20, "G": n * 10**9 / 2**20,
            "": n / 2**20}[unit]


def cpus(quantity):
    q = str(quantity)
    return int(q[:-1]) / 1000 if q.endswith("m") else float(q)


def sizing(env):
    """Workers, pool and MiB per run from pexos-httpd's variables, with its
    defaults, and the memory they need."""
    workers = int(env["PEXOS_WORKERS"])
    pool = int(env.get("PEXOS_POOL", 2 * workers))
    run_mib = int(env.get("PEXOS_MEMORY", 512))
    return workers, pool, run_mib, ZYGOTE_MIB + SLOT_MIB * pool + workers * run_mib


def container():
    return one("Deployment")["spec"]["template"]["spec"]["containers"][0]


def container_env():
    return {e["name"]: e.get("value") for e in container().get("env", [])}


def port_refs(c):
    """{name or number: number} of the container's ports."""
    refs = {}
    for p in c.get("ports", []):
        refs[p["containerPort"]] = p["containerPort"]
        if "name" in p:
            refs[p["name"]] = p["containerPort"]
    return refs


# --------------------------------------------------------------- Kubernetes


def case_parse(c):
    docs = manifests()
    kinds = sorted(d.get("kind", "?") for _, d in docs)
    c.expect(kinds == ["Deployment", "HorizontalPodAutoscaler", "Service"],
             f"manifests hold {kinds}")
    for name, d in docs:
        for field in ("apiVersion", "kind", "metadata", "spec"):
            c.expect(field in d, f"{name}: no {field}")
        c.expect(d.get("metadata", {}).get("name"), f"{name}: no metadata.name")


def case_labels(c):
    dep = one("Deployment")
    selector = dep["spec"]["selector"]["matchLabels"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    c.expect(dep["apiVersion"] == "apps/v1", f"Deployment apiVersion {dep['apiVersion']}")
    c.expect(selector and selector.items() <= labels.items(),
             f"selector {selector} does not match the pod labels {labels}")
    svc = one("Service")
    c.expect(svc["spec"]["selector"].items() <= labels.items(),
             f"Service selector {svc['spec']['selector']} does not match the pod labels {labels}")


def case_ports(c):
    ctr = container()
    refs = port_refs(ctr)
    c.expect(refs, "the container declares no port")
    port = next(iter(refs.values()), None)
    env = container_env()
    c.expect(int(env.get("PORT", 8080)) == port,
             f"pexos-httpd listens on {env.get('PORT', 8080)}, the container port is {port}")
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = ctr.get(kind)
        if probe is None:
            c.expect(kind == "startupProbe", f"no {kind}")
            continue
        get = probe.get("httpGet", {})
        c.expect(get.get("path") == "/health", f"{kind} asks {get.get('path')}, want /health")
        c.expect(refs.get(get.get("port")) == port,
                 f"{kind} port {get.get('port')!r} is not the container's {port}")
    startup = ctr.get("startupProbe")
    if startup:
        # The daemon waits up to 60 s for its pool before it listens.
        budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
        c.expect(budget >= 60, f"startupProbe gives the daemon {budget} s, want 60 or more")
    svc = one("Service")
    for p in svc["spec"]["ports"]:
        c.expect(refs.get(p.get("targetPort", p.get("port"))) == port,
                 f"Service targetPort {p.get('targetPort')!r} is not the container's {port}")


def case_hpa(c):
    hpa, dep = one("HorizontalPodAutoscaler"), one("Deployment")
    ref = hpa["spec"]["scaleTargetRef"]
    c.expect(hpa["apiVersion"] == "autoscaling/v2", f"HPA apiVersion {hpa['apiVersion']}")
    c.expect(ref.get("kind") == "Deployment" and ref.get("apiVersion") == "apps/v1"
             and ref.get("name") == dep["metadata"]["name"],
             f"scaleTargetRef {ref} is not the Deployment {dep['metadata']['name']!r}")
    cpu = [m for m in hpa["spec"].get("metrics", [])
           if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"]
    c.expect(cpu and cpu[0]["resource"]["target"]["type"] == "Utilization",
             "no CPU utilization metric")
    c.expect(hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"],
             "minReplicas above maxReplicas")
    c.expect("cpu" in container().get("resources", {}).get("requests", {}),
             "the container requests no CPU: utilization has no base")


def case_security(c):
    pod = one("Deployment")["spec"]["template"]["spec"]
    sc = container().get("securityContext", {})
    psc = pod.get("securityContext", {})
    user = sc.get("runAsUser", psc.get("runAsUser", 0))
    c.expect(user == 0, f"runAsUser {user}: pexos runs as root in the container")
    c.expect(not sc.get("runAsNonRoot", psc.get("runAsNonRoot")), "runAsNonRoot is set")
    # Not privileged: /proc unmasked (which needs a user namespace, where
    # pexos picks its ids from the pod's 65536), seccomp and AppArmor out
    # of the way, the two capabilities for id maps and nothing else, and
    # no_new_privs (integration/userns runs pexos with just that).
    c.expect("privileged" not in sc, "the container sets privileged")
    c.expect(sc.get("procMount") == "Unmasked", "procMount is not Unmasked")
    c.expect(pod.get("hostUsers") is False, "procMount: Unmasked needs hostUsers: false")
    seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
    c.expect(seccomp in ("Unconfined", "Localhost"), f"seccompProfile {seccomp}")
    apparmor = sc.get("appArmorProfile", psc.get("appArmorProfile", {})).get("type")
    c.expect(apparmor in ("Unconfined", "Localhost"), f"appArmorProfile {apparmor}")
    tmpl = one("Deployment")["spec"]["template"]
    c.expect(not any("apparmor" in k for k in tmpl.get("metadata", {}).get("annotations", {})),
             "the AppArmor annotation instead of the appArmorProfile field")
    caps = sc.get("capabilities", {})
    c.expect(caps.get("drop") == ["ALL"], f"capabilities drop {caps.get('drop')}")
    c.expect(sorted(caps.get("add", [])) == ["SETGID", "SETUID"],
             f"capabilities add {caps.get('add')}: SETUID and SETGID, no more")
    c.expect(sc.get("allowPrivilegeEscalation") is False,
             "allowPrivilegeEscalation is not false")


def case_env(c):
    accepted = httpd_env_names()
    env = container_env()
    for name in env:
        c.expect(name in accepted, f"pexos-httpd does not know {name}")
    pod = one("Deployment")["spec"]["template"]["spec"]
    services = [d["metadata"]["name"] for _, d in manifests() if d.get("kind") == "Service"]
    if any(s.upper().replace("-", "_").startswith("PEXOS") for s in services):
        c.expect(pod.get("enableServiceLinks") is False,
                 "a Service named pexos puts PEXOS_* variables into the pods: "
                 "set enableServiceLinks: false")
    grace = float(env.get("PEXOS_GRACE", 10))
    c.expect(pod.get("terminationGracePeriodSeconds", 30) > grace,
             f"terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)} "
             f"is not above PEXOS_GRACE {grace}")
    token_file = env.get("PEXOS_TOKEN_FILE")
    if token_file:
        mounts = {m["name"]: m["mountPath"] for m in container().get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        c.expect(any(token_file.startswith(p.rstrip("/") + "/") and n in volumes
                     for n, p in mounts.items()),
                 f"PEXOS_TOKEN_FILE {token_file} is on no mounted volume")


def case_resources(c):
    env = container_env()
    res = container().get("resources", {})
    workers, pool, run_mib, need = sizing(env)
    limit = res.get("limits", {}).get("memory")
    if c.expect(limit, "no memory limit"):
        c.expect(mib(limit) >= need,
                 f"memory limit {limit} below {need} MiB: {ZYGOTE_MIB} zygote + "
                 f"{SLOT_MIB} x {pool} waiting + {workers} x {run_mib} runs")
    cpu = res.get("requests", {}).get("cpu")
    if c.expect(cpu, "no CPU request"):
        c.expect(workers <= max(1, round(cpus(cpu))),
                 f"PEXOS_WORKERS {workers} above the {cpu} CPUs requested")


def case_daemon_starts(c):
    """pexos-httpd with the Deployment's variables: it starts, and /health
    shows the workers and pool they ask for."""
    if not PEXOS_HTTPD:
        raise Skip("this build has no pexos-httpd")
    if os.geteuid() != 0 and not MUST_WORK:
        raise Skip("needs root")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PEXOS_") and k != "PORT"}
    env.update({k: v for k, v in container_env().items() if v is not None})
    if "PEXOS_TOKEN_FILE" in env:  # the Secret's file, here
        env["PEXOS_TOKEN_FILE"] = os.path.join(WORKDIR, "token")
        with open(env["PEXOS_TOKEN_FILE"], "w") as f:
            f.write("t0ken\n")
    # Flags win over the variables: only the address changes.
    argv = [PEXOS_HTTPD, "--listen", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines, got = [], threading.Event()

    def read():
        for raw in proc.stderr:
            lines.append(raw.decode("utf-8", "replace"))
            if '"port"' in lines[-1]:
                got.set()
        got.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        got.wait(90)
        port = next((int(m.group(1)) for line in lines
                     for m in [re.search(r'"port":(\d+)', line)] if m), None)
        if not c.expect(port, f"pexos-httpd did not start: {''.join(lines)[-1500:]!r}"):
            return
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as r:
            health = json.load(r)
        workers, pool, _, _ = sizing(env)
        c.expect(health.get("workers") == workers, f"/health workers {health.get('workers')}")
        c.expect(health.get("pool", {}).get("size") == pool,
                 f"/health pool {health.get('pool')}, want size {pool}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(30)
                c.expect(rc == 0, f"exit status {rc} after SIGTERM")
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                c.problems.append("still running 30 s after SIGTERM")


# ---------------------------------------------------------------- Cloud Run

CLOUDRUN = os.path.join("examples", "deploy", "cloudrun.sh")
FAKE_GCLOUD = r"""#!/bin/sh
# Records each command line, one JSON array per line.
/usr/bin/python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >>"$GCLOUD_LOG"
case "$1 $2 $3" in
"artifacts repositories describe") exit 1 ;;
esac
exit 0
"""


def cloudrun(extra_env):
    bindir = os.path.join(WORKDIR, "bin")
    os.makedirs(bindir, exist_ok=True)
    fake = os.path.join(bindir, "gcloud")
    with open(fake, "w") as f:
        f.write(FAKE_GCLOUD)
    os.chmod(fake, 0o755)
    log = os.path.join(WORKDIR, "gcloud.log")
    if os.path.exists(log):
        os.unlink(log)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEXOS_")}
    env.update(PATH=bindir + os.pathsep + os.environ["PATH"], GCLOUD_LOG=log,
               PROJECT="test-project", **extra_env)
    p = subprocess.run(["bash", path(CLOUDRUN)], env=env, capture_output=True,
                       timeout=30, stdin=subprocess.DEVNULL, cwd=WORKDIR)
    calls = []
    if os.path.exists(log):
        with open(log, encoding="utf-8") as f:
            calls = [json.loads(line) for line in f]
    return p, calls


def flag(argv, name):
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def case_cloudrun_syntax(c):
    p = subprocess.run(["bash", "-n", path(CLOUDRUN)], capture_output=True, timeout=10)
    c.expect(p.returncode == 0, f"bash -n: {p.stderr.decode()[:500]}")
    with open(path(CLOUDRUN), encoding="utf-8") as f:
        text = f.read()
    c.expect("--execution-environment gen2" in text, "no --execution-environment gen2")


def deploy_checks(c, extra_env):
    p, calls = cloudrun(extra_env)
    if not c.expect(p.returncode == 0, f"{extra_env}: exit {p.returncode}: "
                    f"{p.stderr.decode()[-800:]!r}"):
        return
    deploys = [a for a in calls if a[:2] == ["run", "deploy"]]
    if not c.expect(len(deploys) == 1, f"{len(deploys)} 'gcloud run deploy' commands"):
        return
    argv = deploys[0]
    env = dict(kv.split("=", 1) for kv in (flag(argv, "--set-env-vars") or "").split(",") if kv)
    accepted = httpd_env_names() if PEXOS_HTTPD else set(env)
    for name in env:
        c.expect(name in accepted, f"pexos-httpd does not know {name}")
    c.expect(flag(argv, "--execution-environment") == "gen2", "not gen2")
    c.expect(flag(argv, "--command") == "pexos-httpd", "the command is not pexos-httpd")
    c.expect(flag(argv, "--port") == "8080", f"--port {flag(argv, '--port')}")
    if not c.expect("PEXOS_WORKERS" in env, "PEXOS_WORKERS is not set"):
        return
    workers, pool, run_mib, need = sizing(env)
    c.expect(flag(argv, "--concurrency") == str(workers),
             f"--concurrency {flag(argv, '--concurrency')} but PEXOS_WORKERS {workers}")
    c.expect(mib(flag(argv, "--memory")) >= need,
             f"--memory {flag(argv, '--memory')} below {need} MiB for {workers} workers, "
             f"pool {pool}, {run_mib} MiB a run")
    c.expect(float(flag(argv, "--cpu")) >= workers, f"--cpu {flag(argv, '--cpu')}")
    want = extra_env.get("WORKERS")
    if want:
        c.expect(str(workers) == want, f"WORKERS={want} gave PEXOS_WORKERS {workers}")
    builds = [a for a in calls if a[:2] == ["builds", "submit"]]
    c.expect(builds and flag(builds[0], "--tag") == flag(argv, "--image"),
             "the image deployed is not the one built")


def case_cloudrun_default(c):
    deploy_checks(c, {})


def case_cloudrun_sized(c):
    deploy_checks(c, {"WORKERS": "2", "RUN_MEMORY": "1024", "POOL": "3"})


def case_cloudrun_refuses(c):
    for env, words in (({"LIMITS": "rlimit"}, "POOL=0"),
                       ({"WORKERS": "8", "RUN_MEMORY": "8192"}, "32 GiB"),
                       ({"WORKERS": "none"}, "WORKERS")):
        p, calls = cloudrun(env)
        c.expect(p.returncode != 0 and not calls and words in p.stderr.decode(),
                 f"{env}: exit {p.returncode}, {len(calls)} gcloud commands, "
                 f"stderr {p.stderr.decode()[-300:]!r}")


def case_cloudrun_dry(c):
    p, calls = cloudrun({"DRY_RUN": "1"})
    out = p.stdout.decode()
    c.expect(p.returncode == 0 and not calls, f"DRY_RUN=1: exit {p.returncode}, "
             f"{len(calls)} gcloud commands run")
    lines = [line[2:] for line in out.splitlines() if line.startswith("+ ")]
    c.expect(any(shlex.split(line)[1:3] == ["run", "deploy"] for line in lines),
             f"DRY_RUN=1 does not print the deploy command: {out[:500]!r}")


# ----------------------------------------------------------------------- CI


def apt_packages(text):
    pkgs = set()
    for m in re.finditer(r"apt-get install((?:[^\n]*\\\n)*[^\n]*)", text):
        pkgs |= {w for w in m.group(1).replace("\\\n", " ").split()
                 if not w.startswith("-") and "=" not in w}
    return pkgs


def pexos_sh_deps():
    with open(path("pexos.sh"), encoding="utf-8") as f:
        text = f.read()
    deps = set()
    for name in ("BUILD_DEPS", "RUN_DEPS"):
        m = re.search(name + r"=\(([^)]*)\)", text)
        if not m:
            raise AssertionError(f"pexos.sh has no {name}")
        deps |= set(m.group(1).split())
    return deps


def case_workflow(c):
    docs = load_all(os.path.join("examples", "ci", "pexos.yml"))
    if not c.expect(len(docs) == 1 and isinstance(docs[0], dict), "not one mapping"):
        return
    wf = docs[0]
    # YAML 1.1 reads the key `on` as true.
    triggers = wf.get("on", wf.get(True))
    c.expect(triggers and ({"push", "pull_request"} & set(triggers)),
             f"no push or pull_request trigger: {triggers}")
    steps = [s for job in wf.get("jobs", {}).values() for s in job.get("steps", [])]
    runs = "\n".join(s.get("run", "") for s in steps)
    c.expect(re.search(r"(^|\s)pexos-run -j 4 --junit report\.xml tests/\*\.py\s*$", runs, re.M),
             "no step runs `pexos-run -j 4 --junit report.xml tests/*.py`")
    missing = pexos_sh_deps() - apt_packages(runs)
    c.expect(not missing, f"installs less than pexos.sh does: {sorted(missing)} missing")
    c.expect(re.search(r"meson install", runs), "no `meson install` step")
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    if c.expect(uploads, "no actions/upload-artifact step"):
        u = uploads[0]
        c.expect(u.get("with", {}).get("path") == "report.xml",
                 f"uploads {u.get('with', {}).get('path')}, not report.xml")
        c.expect("always()" in str(u.get("if", "")),
                 "the report is not uploaded when scripts fail (if: always())")


def case_readme(c):
    with open(path("examples", "deploy", "README.md"), encoding="utf-8") as f:
        text = f.read()
    for name in ("cloudrun.sh", "k8s/deployment.yaml", "k8s/service.yaml", "k8s/hpa.yaml",
                 "podman", "untested"):
        c.expect(name.lower() in text.lower(),
                 f"examples/deploy/README.md does not mention {name}")


CASES = [
    ("k8s manifests parse: a Deployment, a Service, a HorizontalPodAutoscaler", case_parse),
    ("k8s: selectors match the pod labels", case_labels),
    ("k8s: container port = PORT = probes' port = Service targetPort; probes GET /health",
     case_ports),
    ("k8s: the HPA targets the Deployment by name, on CPU", case_hpa),
    ("k8s: securityContext gives what pexos needs and no more (root of hostUsers: false, "
     "/proc unmasked, seccomp and AppArmor unconfined, SETUID and SETGID, no_new_privs)",
     case_security),
    ("k8s: every variable is one pexos-httpd accepts; grace, token file, service links",
     case_env),
    ("k8s: memory limit covers zygote, pool and runs; workers within the CPUs",
     case_resources),
    ("k8s: pexos-httpd starts with the Deployment's variables and /health shows them",
     case_daemon_starts),
    ("cloudrun.sh passes bash -n and says --execution-environment gen2", case_cloudrun_syntax),
    ("cloudrun.sh deploys gen2 with concurrency = workers, memory for the pool",
     case_cloudrun_default),
    ("cloudrun.sh with WORKERS=2 RUN_MEMORY=1024 POOL=3 sizes the instance for them",
     case_cloudrun_sized),
    ("cloudrun.sh refuses impossible settings before any gcloud command", case_cloudrun_refuses),
    ("cloudrun.sh DRY_RUN=1 prints the commands and runs none", case_cloudrun_dry),
    ("examples/ci/pexos.yml: installs pexos, runs the batch with --junit, uploads the report",
     case_workflow),
    ("examples/deploy/README.md covers every file and says what was verified", case_readme),
]


def main():
    global SOURCE, PEXOS_HTTPD
    if len(sys.argv) < 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    SOURCE = os.path.abspath(sys.argv[1])
    PEXOS_HTTPD = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None
    if yaml is None:
        print("not ok 1 - python3-yaml is installed (apt-get install python3-yaml)")
        return tap_plan(1, 1)
    failed = 0
    for n, (description, fn) in enumerate(CASES, 1):
        c = Check()
        try:
            fn(c)
        except Skip as s:
            print(f"ok {n} - {description} # SKIP {s}")
            continue
        except Exception as e:  # a manifest of an unexpected shape
            c.problems.append(f"{type(e).__name__}: {e}")
        if not tap_result(n, description, c.problems):
            failed += 1
    return tap_plan(len(CASES), failed)


if __name__ == "__main__":
    sys.exit(main())
