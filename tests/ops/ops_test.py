#!/usr/bin/python3
"""ops_test.py - the operations tests: release packages, host scripts, systemd units and the
release workflow. One CTest test per subcommand (tests/ops/CMakeLists.txt):

  package   scripts/make-release into WORK/pkg (CPack TGZ + DEB, asset copy, .sha256 files)
            and extract the tarball into WORK/pkg/x (the fixture the others use)
  tarball   the extracted tree runs in place: --version, --list-plugins, --check-config;
            layout of the tarball and of the .deb (depends, conffiles, maintainer scripts)
  jobs      a real job each on GPU 0 and GPU 1: two emp-worker processes from the extracted
            tree, one config with two GPU sections, against a private redis-server
  scripts   setup_redis_workers (file:// download + checksum, per-GPU configs, sourced use,
            rollback), worker start/status/stop/logs, crash detection, SIGKILL escalation,
            wgpu, and a job run by a scripts-started worker
  systemd   systemd-analyze verify on the units (ExecStart pointed at the built binary)
  notify    the worker under a fake NOTIFY_SOCKET: READY, WATCHDOG, STATUS, STOPPING, journal
            priority prefixes (what Type=notify, WatchdogSec and the journal rely on)
  workflow  .github/workflows/release-worker.yml: trigger, steps, every script it runs exists
  shellcheck  the host scripts are shellcheck-clean

Every server and worker a test starts is stopped by PID; waits poll a condition against a
deadline. Exit 77 = skipped (only when a tool is genuinely absent).
"""
import argparse
import hashlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

SKIP = 77


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def log(msg):
    print(msg, flush=True)


def base_env(**extra):
    """A clean environment: nothing of the caller's emp-worker/Redis variables leaks in."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                      "LSAN_OPTIONS") if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["LANG"] = "C.UTF-8"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, env=None, timeout=60, cwd=None, expect=0):
    p = subprocess.run(cmd, env=env if env is not None else base_env(), cwd=cwd, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if expect is not None and p.returncode != expect:
        raise Fail("%s: exit %d (expected %d)\n--- stdout\n%s--- stderr\n%s" %
                   (" ".join(map(str, cmd)), p.returncode, expect, p.stdout, p.stderr))
    return p


def wait_for(cond, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Fail("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid):
    """True if pid runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


# ---------------------------------------------------------------- redis + job submission

class RedisServer:
    def __init__(self, workdir):
        exe = shutil.which("redis-server")
        check(exe, "redis-server not found (scripts/install-deps installs redis-server)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis  # python3-redis
        self.r = redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)

        def up():
            check(self.proc.poll() is None, "redis-server exited at start")
            try:
                return self.r.ping()
            except Exception:
                return False
        wait_for(up, 10, "redis-server to answer PING")
        self.url = "redis://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def submit_job(r, payload, service="mock", priority=50):
    """Writes a job exactly as the API's submitJob does (emp-job-queue.md 2.1, 3.6, 5.2b)."""
    job_id = str(uuid.uuid4())
    now = datetime.now(timezone.utc)
    created_ms = int(now.timestamp() * 1000)
    created_at = now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (created_ms % 1000)
    fields = {
        "id": job_id, "service_required": service, "priority": str(priority),
        "payload": json.dumps(payload), "requirements": "", "customer_id": "",
        "created_at": created_at, "status": "pending", "retry_count": "0", "max_retries": "3",
        "workflow_id": "", "workflow_priority": "", "workflow_datetime": "",
        "current_step": "", "total_steps": "",
        "job_trace_id": "temp-trace-id", "job_span_id": "temp-span-id",
        "workflow_trace_id": "temp-trace-id", "workflow_span_id": "temp-span-id", "ctx": "",
    }
    score = priority * 1e15 - math.floor(created_ms / 1000)
    msg = {"job_id": job_id, "service_required": service, "priority": priority,
           "payload": payload, "requirements": None, "customer_id": None,
           "created_at": created_at, "status": "pending", "timestamp": created_ms}
    p = r.pipeline(transaction=False)
    p.hset("job:" + job_id, mapping=fields)
    p.zadd("jobs:pending", {job_id: score})
    p.publish("job_submitted", json.dumps(msg))
    p.execute()
    return job_id


def find_key(obj, key):
    """First value of `key` anywhere in a decoded JSON tree."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            found = find_key(v, key)
            if found is not None:
                return found
    return None


# ---------------------------------------------------------------- the package fixture

class Ctx:
    def __init__(self, a):
        self.src = os.path.abspath(a.source)
        self.build = os.path.abspath(a.build)
        self.work = os.path.abspath(a.work)
        self.pkg = os.path.join(self.work, "pkg")

    def version(self):
        with open(os.path.join(self.src, "CMakeLists.txt")) as f:
            m = re.search(r"project\(emp-worker\s+VERSION\s+([0-9.]+)", f.read())
        check(m, "no project(emp-worker VERSION x.y.z) in CMakeLists.txt")
        return m.group(1)

    def tree(self):
        """The extracted tarball's top folder."""
        x = os.path.join(self.pkg, "x")
        if not os.path.isdir(x):
            raise Fail("the package fixture is missing (%s): run the ops_package test first" % x)
        tops = os.listdir(x)
        check(len(tops) == 1, "the tarball must have exactly one top-level folder, has %s" % tops)
        return os.path.join(x, tops[0])

    def file(self, pattern):
        rx = re.compile(pattern)
        hits = [f for f in os.listdir(self.pkg) if rx.fullmatch(f)]
        check(len(hits) == 1, "expected one file matching %s in %s, found %s" %
              (pattern, self.pkg, sorted(os.listdir(self.pkg))))
        return os.path.join(self.pkg, hits[0])


def t_package(c):
    shutil.rmtree(c.pkg, ignore_errors=True)
    t0 = time.monotonic()
    p = run([os.path.join(c.src, "scripts/make-release"), c.build, c.pkg], timeout=300)
    log("make-release: %.1f s\n%s" % (time.monotonic() - t0, p.stdout[-2000:]))
    tgz = c.file(r"emp-worker-%s-linux-[A-Za-z0-9_]+\.tar\.gz" % re.escape(c.version()))
    asset = os.path.join(c.pkg, "emp-job-queue-worker.tar.gz")
    deb = c.file(r"emp-worker_%s-1_[a-z0-9]+\.deb" % re.escape(c.version()))
    check(os.path.isfile(asset), "no emp-job-queue-worker.tar.gz")
    with open(tgz, "rb") as f1, open(asset, "rb") as f2:
        check(f1.read() == f2.read(), "emp-job-queue-worker.tar.gz differs from " + tgz)
    for f in (tgz, asset, deb):
        with open(f + ".sha256") as s:
            sha, name = s.read().split()
        with open(f, "rb") as b:
            check(sha == hashlib.sha256(b.read()).hexdigest(), "wrong checksum in %s.sha256" % f)
        check(name == os.path.basename(f), "%s.sha256 names %s" % (f, name))
    run(["sha256sum", "-c", os.path.basename(tgz) + ".sha256"], cwd=c.pkg)
    x = os.path.join(c.pkg, "x")
    os.makedirs(x)
    run(["tar", "-xzf", tgz, "-C", x, "--no-same-owner"])
    log("package OK: %s, %s, extracted to %s" % (os.path.basename(tgz), os.path.basename(deb),
                                                 c.tree()))


# ---------------------------------------------------------------- (a) tarball + deb

TREE_FILES = [
    "bin/emp-worker", "lib/emp-worker/plugins/mock.so", "include/emp-worker/emp_plugin.h",
    "include/emp-worker/emp_testkit.h", "lib/libemp_testkit.a", "lib/pkgconfig/emp-plugin.pc",
    "etc/emp-worker/worker.conf", "etc/emp-worker/env.example",
    "etc/emp-worker/conf.d/mock.conf.example", "etc/emp-worker/conf.d/comfyui.conf.example",
    "etc/emp-worker/conf.d/a1111.conf.example",
    "lib/systemd/system/emp-worker@.service", "lib/systemd/system/emp-worker.target",
    "share/emp-worker/scripts/worker", "share/emp-worker/scripts/wgpu",
    "share/emp-worker/scripts/setup_redis_workers",
]
DEB_DEPENDS = ["libhiredis0.14", "libcurl4", "libwebsockets17", "libcjson1", "libconfig9",
               "libsystemd0"]


def t_tarball(c):
    tree = c.tree()
    check(os.path.basename(tree) == os.path.basename(c.file(r"emp-worker-.*\.tar\.gz"))[:-7],
          "top-level folder %s is not named after the tarball" % os.path.basename(tree))
    for f in TREE_FILES:
        # libdir is lib/ or, with a /usr prefix (the release build), lib/<multiarch>/
        alts = [f] + ([f.replace("lib/", "lib/%s/" % d, 1) for d in os.listdir(
            os.path.join(tree, "lib")) if "-linux-" in d] if f.startswith("lib/lib") or
            f.startswith("lib/pkgconfig") else [])
        check(any(os.path.isfile(os.path.join(tree, a)) for a in alts), "tarball lacks " + f)
    for doc in ("README.md", "docs/operations.md"):
        if os.path.exists(os.path.join(c.src, doc)):
            f = os.path.join("share/doc/emp-worker", os.path.basename(doc))
            check(os.path.isfile(os.path.join(tree, f)), "tarball lacks " + f)
    for d, _, files in os.walk(os.path.join(tree, "lib/emp-worker")):
        for p in [d] + [os.path.join(d, f) for f in files]:
            check(not os.stat(p).st_mode & 0o022, "%s is group/world-writable in the tarball" % p)
    exe = os.path.join(tree, "bin/emp-worker")
    conf = os.path.join(tree, "etc/emp-worker/worker.conf")

    p = run([exe, "--version"])
    check(re.match(r"emp-worker %s \(plugin ABI \d+\.\d+\)" % re.escape(c.version()), p.stdout),
          "--version printed %r" % p.stdout)
    # no --plugin-dir: the plugins are found relative to the binary (../lib/emp-worker/plugins)
    p = run([exe, "--list-plugins", "--config", conf])
    plugdir = os.path.realpath(os.path.join(tree, "lib/emp-worker/plugins"))
    check("plugins in %s:" % plugdir in p.stdout, "--list-plugins looked elsewhere:\n" + p.stdout)
    check(re.search(r"^mock\s+\S+\s+ABI ", p.stdout, re.M), "mock not listed:\n" + p.stdout)
    check("REFUSED" not in p.stdout, "a plugin was refused:\n" + p.stdout)
    # the shipped config enables no connector (they ship as *.example) ...
    p = run([exe, "--check-config", "--config", conf, "--gpu", "0"], expect=1)
    check("no connector is enabled" in p.stderr, "unexpected --check-config error:\n" + p.stderr)
    # ... WORKER_CONNECTORS enables one, on each GPU the shipped config lists
    for gpu in ("0", "1"):
        p = run([exe, "--check-config", "--config", conf, "--gpu", gpu],
                env=base_env(WORKER_CONNECTORS="mock", MACHINE_ID="opstest"))
        check("is OK (gpu %s, worker opstest-worker-mock-%s, 1 connector(s): mock)" % (gpu, gpu)
              in p.stdout, "--check-config said:\n" + p.stdout + p.stderr)
    log("tarball OK: runs in place from %s" % tree)

    deb = c.file(r"emp-worker_.*\.deb")
    depends = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
    for d in DEB_DEPENDS:
        check(re.search(r"(^|[ ,])%s( |,|$)" % re.escape(d), depends),
              "the .deb does not depend on %s: %s" % (d, depends))
    contents = run(["dpkg-deb", "-c", deb]).stdout
    paths = {line.split()[-1] for line in contents.splitlines() if line.strip()}
    for f in ["./usr/bin/emp-worker", "./usr/lib/emp-worker/plugins/mock.so",
              "./usr/lib/systemd/system/emp-worker@.service",
              "./usr/lib/systemd/system/emp-worker.target", "./etc/emp-worker/worker.conf",
              "./etc/emp-worker/conf.d/comfyui.conf.example",
              "./usr/include/emp-worker/emp_plugin.h",
              "./usr/share/emp-worker/scripts/worker"]:
        check(f in paths, "the .deb lacks %s" % f)
    check(not any(p.startswith("./emp-worker-") for p in paths),
          "the .deb has a top-level folder: paths must start at /")
    ctl = tempfile.mkdtemp(dir=c.work)
    run(["dpkg-deb", "-e", deb, ctl])
    with open(os.path.join(ctl, "conffiles")) as f:
        conffiles = f.read().split()
    etc = sorted(p[1:] for p in paths if p.startswith("./etc/") and not p.endswith("/"))
    check(sorted(conffiles) == etc, "conffiles %s != files under /etc %s" % (conffiles, etc))
    for s in ("postinst", "prerm", "postrm"):
        path = os.path.join(ctl, s)
        check(os.access(path, os.X_OK), "maintainer script %s missing or not executable" % s)
        run(["sh", "-n", path])
    with open(os.path.join(ctl, "postinst")) as f:
        check("adduser --system" in f.read(), "postinst does not create the emp-worker user")
    shutil.rmtree(ctl)
    log("deb OK: depends %s" % depends.strip())


# ---------------------------------------------------------------- (b) jobs on GPU 0 and 1

class Procs:
    """Processes started by a test, stopped by PID at the end."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, env, logpath):
        f = open(logpath, "ab")
        p = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        f.close()
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except FileNotFoundError:
        return "(no log)\n"


def t_jobs(c):
    tree = c.tree()
    exe = os.path.join(tree, "bin/emp-worker")
    tmp = tempfile.mkdtemp(prefix="ops-jobs-", dir=c.work)
    srv = RedisServer(tmp)
    procs = Procs()
    logs = {}
    try:
        # one main config, two GPU sections: each GPU gives the mock connector its own delay
        delay = {0: 1000, 1: 2000}
        os.makedirs(os.path.join(tmp, "conf.d"))
        shutil.copy(os.path.join(tree, "etc/emp-worker/conf.d/mock.conf.example"),
                    os.path.join(tmp, "conf.d/mock.conf"))
        conf = os.path.join(tmp, "worker.conf")
        with open(conf, "w") as f:
            f.write("""
worker = { machine_id = "opstest"; conf_dir = "conf.d"; };
redis = { url = "%s"; fallback_poll_ms = 200; heartbeat_interval_ms = 1000; };
gpus = (
  { index = 0; services = { mock = { default_delay_ms = %d; }; }; },
  { index = 1; services = { mock = { default_delay_ms = %d; }; }; }
);
""" % (srv.url, delay[0], delay[1]))
        wid = {g: "opstest-worker-mock-%d" % g for g in (0, 1)}
        for g in (0, 1):
            logs[g] = os.path.join(tmp, "gpu%d.log" % g)
            procs.start([exe, "--config", conf, "--gpu", str(g)],
                        base_env(CUDA_VISIBLE_DEVICES=g), logs[g])

        def registered():
            for g, p in enumerate(procs.procs):
                if p.poll() is not None:
                    raise Fail("worker gpu %d exited with %d:\n%s" % (g, p.returncode,
                                                                       tail(logs[g])))
            return all(srv.r.exists("worker:%s:heartbeat" % wid[g]) for g in (0, 1))
        wait_for(registered, 20, "both workers to register (worker:<id>:heartbeat)")

        jobs = [submit_job(srv.r, {"test_data": {"n": i}}) for i in range(2)]

        def done():
            st = [srv.r.hget("job:" + j, "status") for j in jobs]
            bad = [s for s in st if s == "failed"]
            check(not bad, "a job failed: %s" % [srv.r.hgetall("job:" + j) for j in jobs])
            return all(s == "completed" for s in st)
        try:
            wait_for(done, 30, "both jobs to complete")
        except Fail:
            raise Fail("jobs did not complete: %s\n--- gpu0\n%s--- gpu1\n%s" % (
                [srv.r.hgetall("job:" + j) for j in jobs], tail(logs[0]), tail(logs[1])))
        by = {}
        for j in jobs:
            h = srv.r.hgetall("job:" + j)
            check(h.get("completed_at"), "job %s has no completed_at" % j)
            res = json.loads(srv.r.hget("jobs:completed", j) or "null")
            check(res and res.get("success") is True, "jobs:completed[%s] = %r" % (j, res))
            check(find_key(res, "mock_url") == "mock://" + j, "result lacks mock_url: %r" % res)
            ms = find_key(res, "processing_time_ms")
            check(isinstance(ms, (int, float)), "result lacks processing_time_ms: %r" % res)
            by[h["worker_id"]] = (j, ms)
        check(set(by) == set(wid.values()),
              "expected one job on each GPU's worker %s, got %s" % (sorted(wid.values()), by))
        # each worker ran with its own GPU section's options
        check(delay[0] <= by[wid[0]][1] < delay[1],
              "GPU 0's job took %s ms; its section says %d ms" % (by[wid[0]][1], delay[0]))
        check(by[wid[1]][1] >= delay[1],
              "GPU 1's job took %s ms; its section says %d ms" % (by[wid[1]][1], delay[1]))
        for g in (0, 1):
            with open(logs[g]) as f:
                text = f.read()
            check(re.search(r" gpu=%d worker=%s" % (g, re.escape(wid[g])), text),
                  "log lines of gpu %d lack the gpu=/worker= prefix:\n%s" % (g, tail(logs[g])))
        log("jobs OK: %s" % {w: "%s in %s ms" % v for w, v in by.items()})
        procs.stop_all()
        for g, p in enumerate(procs.procs):
            check(p.returncode == 0, "worker gpu %d exited %d on SIGTERM:\n%s" %
                  (g, p.returncode, tail(logs[g])))
    finally:
        procs.stop_all()
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- (c) host scripts

def t_scripts(c):
    tree = c.tree()
    scripts = os.path.join(tree, "share/emp-worker/scripts")
    worker = os.path.join(scripts, "worker")
    wgpu = os.path.join(scripts, "wgpu")
    setup = os.path.join(scripts, "setup_redis_workers")
    tmp = tempfile.mkdtemp(prefix="ops-scripts-", dir="/tmp")
    root = os.path.join(tmp, "workspace")
    os.makedirs(root)
    srv = RedisServer(tmp)
    asset = os.path.join(c.pkg, "emp-job-queue-worker.tar.gz")
    env = base_env(EMP_WORKER_ROOT=root, HUB_REDIS_URL=srv.url, MACHINE_ID="opstest",
                   NUM_GPUS=2, WORKER_CONNECTORS="mock", WORKER_BASE_COMFYUI_PORT=9188,
                   WORKER_DOWNLOAD_URL="file://" + asset)
    pids = []
    try:
        for cmd in (worker, wgpu, setup):
            p = run([cmd, "--help"], env=env)
            check(p.stdout.startswith("Usage:"), "%s --help printed %r" % (cmd, p.stdout[:80]))

        # a wrong checksum is refused and installs nothing
        p = run([setup], env=dict(env, WORKER_DOWNLOAD_SHA256="0" * 64), expect=1)
        check("checksum mismatch" in p.stderr, "setup with a bad checksum said:\n" + p.stderr)
        check(not os.path.exists(os.path.join(root, "worker_gpu0")), "bad bundle was installed")

        # download (file://) + <url>.sha256, per-GPU trees and configs
        p = run([setup], env=env)
        check("sha256 verified" in p.stderr, "setup did not verify the checksum:\n" + p.stderr)
        for g in (0, 1):
            d = os.path.join(root, "worker_gpu%d" % g)
            check(os.access(os.path.join(d, "bin/emp-worker"), os.X_OK), "no %s/bin/emp-worker" % d)
            with open(os.path.join(d, "worker.conf")) as f:
                wc = f.read()
            check("index = %d;" % g in wc and "comfyui = { port = %d; }" % (9188 + g) in wc and
                  "a1111 = { port = %d; }" % (3001 + g) in wc, "worker_gpu%d/worker.conf:\n%s" % (g, wc))
            check(os.path.isfile(os.path.join(d, "conf.d/mock.conf")), "no conf.d/mock.conf")
            check(srv.url not in wc, "the Redis URL (a secret) was written to worker.conf")
            p = run([os.path.join(d, "bin/emp-worker"), "--check-config", "--config",
                     os.path.join(d, "worker.conf"), "--gpu", str(g)],
                    env=dict(env, WORKER_ID="worker-gpu%d" % g))
            check("worker worker-gpu%d" % g in p.stdout, p.stdout)

        # sourced from a start.sh: uses the caller's log function, returns instead of exiting
        sh = ('log() { echo "LOG: $*"; }; . "%s"; setup_redis_workers; echo "rc=$?"; '
              'WORKER_DOWNLOAD_SHA256=%s setup_redis_workers; echo "rc=$?"' % (setup, "1" * 64))
        p = run(["bash", "-c", sh], env=env)
        check("LOG: setup_redis_workers: done" in p.stdout and "rc=0" in p.stdout and
              "rc=1" in p.stdout, "sourced use:\n" + p.stdout + p.stderr)
        check(os.path.isdir(os.path.join(root, "worker_gpu0/.previous/bin")),
              "no previous release kept for rollback")
        p = run([setup, "--rollback"], env=env)
        check("rolled back 2 GPU(s)" in p.stderr, "rollback said:\n" + p.stderr)

        def status(g, expect):
            return run([worker, "status", str(g)], env=env, expect=expect).stdout

        check("stopped" in status(0, 3), "a fresh GPU 0 is not 'stopped'")
        for g in (0, 1):
            p = run([worker, "start", str(g)], env=env)
            check("started (pid" in p.stdout, "start %d said:\n%s%s" % (g, p.stdout, p.stderr))
        for g in (0, 1):
            with open(os.path.join(root, "worker_gpu%d/worker.pid" % g)) as f:
                pids.append(int(f.read()))
        p = run([worker, "start", "0"], env=env, expect=1)
        check("already running" in p.stdout, "second start said:\n" + p.stdout)
        wid = ["worker-gpu0", "worker-gpu1"]
        wait_for(lambda: all(srv.r.exists("worker:%s:heartbeat" % w) for w in wid), 20,
                 "the scripts-started workers to register as %s" % wid)
        out = status(0, 0)
        check("running (pid %d)" % pids[0] in out and "alive" in out,
              "status 0 while running:\n" + out)

        # a job, seen by status and wgpu while it runs
        job = submit_job(srv.r, {"delay_ms": 2500, "test_data": "scripts"})
        wait_for(lambda: srv.r.hget("job:" + job, "status") == "in_progress", 15,
                 "the job to start")
        g = wid.index(srv.r.hget("job:" + job, "worker_id"))
        out = status(g, 0)
        check(job in out, "status %d does not show the running job %s:\n%s" % (g, job, out))
        out = run([wgpu], env=env).stdout
        check("=== GPU 0 ===" in out and "=== GPU 1 ===" in out and job in out and
              "state: running (pid" in out and "output.log" in out, "wgpu while busy:\n" + out)
        wait_for(lambda: srv.r.hget("job:" + job, "status") == "completed", 20,
                 "the job to complete")
        lines = run([worker, "logs", str(g), "-n", "3"], env=env).stdout.splitlines()
        check(len(lines) == 3, "logs -n 3 printed %d lines" % len(lines))

        # crash detection: kill -9 leaves the pid file behind
        os.kill(pids[1], signal.SIGKILL)
        wait_for(lambda: not pid_alive(pids[1]), 10, "the killed worker to die")
        out = status(1, 1)
        check("crashed" in out, "status after kill -9:\n" + out)
        check("crashed" in run([wgpu, "-n", "0"], env=env).stdout, "wgpu does not show the crash")
        out = run([worker, "stop", "1"], env=env).stdout
        check("stale pid file" in out, "stop of a crashed worker:\n" + out)
        check("stopped" in status(1, 3), "GPU 1 not stopped after cleaning up")

        # graceful stop: SIGTERM, the worker deregisters and exits
        out = run([worker, "stop", "0"], env=env, timeout=60).stdout
        check("stopped" in out and not pid_alive(pids[0]), "stop 0:\n" + out)
        check(not srv.r.exists("worker:worker-gpu0:heartbeat"), "worker-gpu0 did not deregister")
        check("stopped" in status(0, 3), "GPU 0 not stopped")

        # a worker that ignores SIGTERM (stopped) is SIGKILLed after EMP_WORKER_STOP_TIMEOUT
        run([worker, "start", "0"], env=env)
        with open(os.path.join(root, "worker_gpu0/worker.pid")) as f:
            pids.append(int(f.read()))
        os.kill(pids[-1], signal.SIGSTOP)
        t0 = time.monotonic()
        out = run([worker, "stop", "0"], env=dict(env, EMP_WORKER_STOP_TIMEOUT="1")).stdout
        check("SIGKILL" in out and not pid_alive(pids[-1]), "stop of a hung worker:\n" + out)
        check(time.monotonic() - t0 < 10, "SIGKILL escalation took too long")
        log("scripts OK")
    finally:
        for g in (0, 1):  # workers the scripts started, also those not yet in `pids`
            try:
                with open(os.path.join(root, "worker_gpu%d/worker.pid" % g)) as f:
                    pids.append(int(f.read()))
            except (OSError, ValueError):
                pass
        for pid in pids:  # anything still running is ours: stop it by pid
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- (d) systemd units

ALLOWED_VERIFY = [
    # environment-dependent, not defects of the unit: the service user and groups are created
    # by the package's postinst, not on a build machine
    re.compile(r"(User|Group|SupplementaryGroups)=.*(not found|does not exist|unknown)", re.I),
    re.compile(r"Failed to resolve (user|group)", re.I),
]


def unit_value(text, key):
    m = re.findall(r"^%s=(.*)$" % re.escape(key), text, re.M)
    return m[-1].strip() if m else None


def verify(units_dir, names):
    p = subprocess.run(["systemd-analyze", "verify"] + ["./" + n for n in names],
                       cwd=units_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60, env=base_env(SYSTEMD_LOG_COLOR=0))
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    bad = [l for l in lines if not any(rx.search(l) for rx in ALLOWED_VERIFY)]
    return p.returncode, bad, lines


def t_systemd(c):
    if not shutil.which("systemd-analyze"):
        log("SKIP: systemd-analyze is not installed (package systemd, see scripts/install-deps)")
        return SKIP
    src = os.path.join(c.src, "dist/systemd")
    with open(os.path.join(src, "emp-worker@.service")) as f:
        unit = f.read()
    exe = os.path.join(c.build, "emp-worker")
    check(os.access(exe, os.X_OK), "no built binary at " + exe)
    check(unit_value(unit, "ExecStart") == "/usr/bin/emp-worker --gpu %i",
          "ExecStart is %r" % unit_value(unit, "ExecStart"))
    tmp = tempfile.mkdtemp(prefix="ops-systemd-", dir=c.work)
    with open(os.path.join(tmp, "emp-worker@.service"), "w") as f:
        f.write(unit.replace("/usr/bin/emp-worker", exe))
    shutil.copy(os.path.join(src, "emp-worker.target"), tmp)
    rc, bad, lines = verify(tmp, ["emp-worker@0.service", "emp-worker@1.service",
                                  "emp-worker.target"])
    check(rc == 0 and not bad, "systemd-analyze verify: exit %d\n%s" % (rc, "\n".join(lines)))
    # the check has teeth: a unit with an unknown key is reported
    with open(os.path.join(tmp, "emp-worker@.service"), "a") as f:
        f.write("\n[Service]\nNoSuchDirective=1\n")
    rc, bad, lines = verify(tmp, ["emp-worker@0.service"])
    check(bad, "systemd-analyze verify did not report an unknown directive: %s" % lines)

    want = {"Type": "notify", "NotifyAccess": "main", "WatchdogSec": "60",
            "Restart": "on-failure", "User": "emp-worker", "NoNewPrivileges": "yes",
            "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "Environment": "CUDA_VISIBLE_DEVICES=%i", "PartOf": "emp-worker.target",
            "WantedBy": "emp-worker.target"}
    for k, v in want.items():
        check(unit_value(unit, k) == v, "%s=%r, expected %r" % (k, unit_value(unit, k), v))
    check("EnvironmentFile=-/etc/emp-worker/env" in unit, "no optional EnvironmentFile")
    # GPU device access: nothing may close the device cgroup
    for k in ("PrivateDevices", "ProtectClock", "DevicePolicy", "DeviceAllow"):
        check(unit_value(unit, k) is None, "%s= would cut the worker off the GPU devices" % k)
    check(unit_value(unit, "StartLimitBurst") and unit_value(unit, "StartLimitIntervalSec"),
          "no start limit")
    # TimeoutStopSec must outlast the shutdown grace + the plugin's cancel grace + margin
    with open(os.path.join(c.src, "dist/worker.conf")) as f:
        conf = f.read()
    grace = int(re.search(r"shutdown_grace_s\s*=\s*(\d+)", conf).group(1))
    cancel = int(re.search(r"cancel_grace_s\s*=\s*(\d+)", conf).group(1))
    stop = int(unit_value(unit, "TimeoutStopSec").rstrip("s"))
    check(stop >= grace + cancel + 5, "TimeoutStopSec=%d < shutdown_grace_s %d + cancel_grace_s "
          "%d + 5 s" % (stop, grace, cancel))
    with open(os.path.join(src, "emp-worker.target")) as f:
        check(unit_value(f.read(), "WantedBy") == "multi-user.target", "target not in multi-user")
    shutil.rmtree(tmp)
    log("systemd OK: verify clean (%d line(s) allowed), TimeoutStopSec %d >= %d + %d + 5" %
        (len(lines), stop, grace, cancel))


def t_notify(c):
    """What the unit's Type=notify / WatchdogSec / journal settings rely on, with a fake
    NOTIFY_SOCKET: READY=1, WATCHDOG=1 at half of WATCHDOG_USEC, STATUS= with the job,
    STOPPING=1 on SIGTERM, and <N> priority prefixes when JOURNAL_STREAM is set."""
    exe = os.path.join(c.tree(), "bin/emp-worker")
    tmp = tempfile.mkdtemp(prefix="ops-notify-", dir="/tmp")  # short: AF_UNIX paths are small
    srv = RedisServer(tmp)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = os.path.join(tmp, "notify")
    sock.bind(path)
    sock.settimeout(0.1)
    procs = Procs()
    logpath = os.path.join(tmp, "worker.log")
    msgs = []

    def got(pred, timeout, what):
        def cond():
            exited = procs.procs[0].poll() is not None
            while True:  # drain what is queued (also after the worker exited)
                try:
                    msgs.append(sock.recv(4096).decode())
                except socket.timeout:
                    break
            if pred():
                return True
            check(not exited, "the worker exited (%s); messages %s; log:\n%s" %
                  (procs.procs[0].returncode, msgs, tail(logpath)))
            return False
        return wait_for(cond, timeout, what, interval=0)

    try:
        conf = os.path.join(c.tree(), "etc/emp-worker/worker.conf")
        env = base_env(NOTIFY_SOCKET=path, WATCHDOG_USEC=1000000, JOURNAL_STREAM="8:12345",
                       HUB_REDIS_URL=srv.url, WORKER_CONNECTORS="mock", MACHINE_ID="opstest",
                       WORKER_POLL_INTERVAL_MS=200, CUDA_VISIBLE_DEVICES=0)
        p = procs.start([exe, "--config", conf, "--gpu", "0"], env, logpath)
        got(lambda: any("READY=1" in m for m in msgs), 20, "READY=1")
        n0 = sum("WATCHDOG=1" in m for m in msgs)
        t0 = time.monotonic()
        got(lambda: sum("WATCHDOG=1" in m for m in msgs) >= n0 + 3, 5,
            "three WATCHDOG=1 pings (WATCHDOG_USEC=1 s: one every 0.5 s)")
        check(time.monotonic() - t0 < 3, "watchdog pings too slow for WatchdogSec")
        job = submit_job(srv.r, {"delay_ms": 800})
        got(lambda: any(m.startswith("STATUS=") and job in m for m in msgs), 10,
            "a STATUS= line naming the running job")
        wait_for(lambda: srv.r.hget("job:" + job, "status") == "completed", 15, "the job")
        os.kill(p.pid, signal.SIGTERM)
        got(lambda: any("STOPPING=1" in m for m in msgs), 10, "STOPPING=1 after SIGTERM")
        check(p.wait(15) == 0, "the worker exited %s on SIGTERM" % p.returncode)
        with open(logpath) as f:
            lines = [l for l in f.read().splitlines() if l]
        bad = [l for l in lines if not re.match(r"<[0-7]>", l)]
        check(lines and not bad, "log lines without a journal priority prefix: %s" % bad[:3])
        log("notify OK: %d messages, e.g. %s" % (len(msgs), sorted(set(
            m.split("=")[0] for m in msgs))))
    finally:
        procs.stop_all()
        srv.stop()
        sock.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- (e) release workflow

def t_workflow(c):
    import yaml  # python3-yaml
    path = os.path.join(c.src, ".github/workflows/release-worker.yml")
    with open(path) as f:
        wf = yaml.safe_load(f)
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as true
    check(isinstance(on, dict) and "worker-v*" in (on.get("push") or {}).get("tags", []),
          "the workflow is not triggered by worker-v* tags: %r" % on)
    steps = [s for job in wf["jobs"].values() for s in job.get("steps", [])]
    runs = [s["run"] for s in steps if "run" in s]
    uses = [s["uses"] for s in steps if "uses" in s]
    check(any(u.startswith("actions/checkout@") for u in uses), "no checkout step")
    check(any("debian:bookworm" in str(j.get("container", "")) for j in wf["jobs"].values()),
          "the build does not run in a debian:bookworm container")
    text = "\n".join(runs)
    for what, rx in [("install-deps", r"scripts/install-deps"), ("configure", r"cmake -S"),
                     ("tests", r"scripts/test"), ("package", r"scripts/make-release"),
                     ("checksum check", r"sha256sum -c")]:
        check(re.search(rx, text), "no %s step (%s) in the workflow" % (what, rx))
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("softprops/action-gh-release@")]
    check(len(uploads) == 1, "expected one upload step (softprops/action-gh-release)")
    files = str(uploads[0].get("with", {}).get("files", "")).split()
    for asset in ("emp-job-queue-worker.tar.gz", "emp-job-queue-worker.tar.gz.sha256",
                  "emp-worker-*-linux-*.tar.gz", "emp-worker-*-linux-*.tar.gz.sha256",
                  "emp-worker_*.deb", "emp-worker_*.deb.sha256"):
        check(any(f.endswith("/" + asset) for f in files), "the upload does not name %s" % asset)
    # the upload's folder is the one make-release writes to
    m = re.search(r"scripts/make-release\s+(\S+)\s+(\S+)", text)
    check(m and all(f.startswith(m.group(2) + "/") for f in files),
          "the uploaded files are not in make-release's output folder")
    # every repository script a run: line calls exists and is executable
    called = set()
    for r in runs:
        for m in re.finditer(r"(?:^|[\s;&|(])(?:\./)?((?:scripts|tests|cmake|dist)/[\w./-]+)", r):
            called.add(m.group(1))
    check(called, "no repository script found in the run: lines")
    for s in sorted(called):
        p = os.path.join(c.src, s)
        check(os.path.exists(p), "the workflow runs %s, which is not in the repository" % s)
        if s.startswith("scripts/"):
            check(os.access(p, os.X_OK), "%s is not executable" % s)
    log("workflow OK: %d steps; scripts %s" % (len(steps), sorted(called)))


# ---------------------------------------------------------------- shellcheck

def t_shellcheck(c):
    exe = shutil.which("shellcheck")
    if not exe:
        log("SKIP: shellcheck is not installed (package shellcheck, see scripts/install-deps)")
        return SKIP
    files = [os.path.join(c.src, "scripts", s) for s in
             ("worker", "wgpu", "setup_redis_workers", "make-release")]
    files += [os.path.join(c.src, "dist/systemd/deb", s) for s in ("postinst", "prerm", "postrm")]
    run([exe, "-x"] + files)
    log("shellcheck OK: %d files" % len(files))


TESTS = {"package": t_package, "tarball": t_tarball, "jobs": t_jobs, "scripts": t_scripts,
         "systemd": t_systemd, "notify": t_notify, "workflow": t_workflow, "shellcheck": t_shellcheck}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("test", choices=sorted(TESTS))
    a = ap.parse_args()
    c = Ctx(a)
    os.makedirs(c.work, exist_ok=True)
    t0 = time.monotonic()
    try:
        rc = TESTS[a.test](c) or 0
    except Fail as e:
        print("FAIL (%s): %s" % (a.test, e), flush=True)
        return 1
    print("%s: %s in %.1f s" % (a.test, "skipped" if rc == SKIP else "passed",
                                time.monotonic() - t0), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
