"""benchlib - shared helpers of the emp-worker benchmarks (bench/*).

Everything here talks to a private redis-server that the calling script starts on 127.0.0.1
on a free port and stops by PID. Nothing here asserts on timings: the scripts print figures
and write JSON to bench/results/.
"""
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import redis

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# ---------------------------------------------------------------- processes and /proc

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_cpu(pid):
    """utime+stime of a whole process (all threads), seconds, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu_split(pid):
    """(utime, stime) seconds of a whole process."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def smaps_summary(pid, top=8):
    """RSS split: Pss/Anonymous from smaps_rollup and the mappings holding the most RSS."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            p = line.split()
            if p[0] in ("Rss:", "Pss:", "Anonymous:", "Shared_Clean:", "Private_Dirty:"):
                out[p[0][:-1].lower() + "_kb"] = int(p[1])
    agg = {}
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            p = line.split()
            if p and "-" in p[0] and not p[0].endswith(":"):
                cur = os.path.basename(p[5]) if len(p) > 5 else "[anon]"
            elif p and p[0] == "Rss:":
                agg[cur] = agg.get(cur, 0) + int(p[1])
    out["top_mappings_kb"] = dict(sorted(agg.items(), key=lambda x: -x[1])[:top])
    return out


def rss_kb(pid):
    return proc_status_kb(pid, "VmRSS")


def hwm_kb(pid):
    return proc_status_kb(pid, "VmHWM")


def self_cpu():
    t = os.times()
    return t.user + t.system


def stop_pid(pid, timeout=10.0, sig=signal.SIGTERM):
    """Stops one process we started, by its PID; SIGKILL after `timeout`."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


# ---------------------------------------------------------------- redis-server

class RedisServer:
    """A private redis-server on 127.0.0.1:<free port>; stop() ends it by PID."""

    def __init__(self, workdir, extra_args=()):
        self.port = free_port()
        self.dir = workdir
        self.log = os.path.join(workdir, "redis-%d.log" % self.port)
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", workdir, "--maxclients", "10000",
                "--protected-mode", "no", "--loglevel", "notice"] + list(extra_args)
        self.proc = subprocess.Popen(args, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.url = "redis://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start; see " + self.log)
                time.sleep(0.02)

    def client(self, **kw):
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, **kw)

    def version(self):
        return self.client().info("server")["redis_version"]

    def cpu(self):
        return proc_cpu(self.pid)

    def stop(self):
        if self.proc is not None:
            stop_pid(self.pid)
            self.proc = None


def load_function(r):
    """Loads core/lua/job_matching.lua (the same findMatchingJob the worker would load)."""
    try:
        if r.execute_command("FUNCTION", "LIST", "LIBRARYNAME", "jobMatching"):
            return
    except redis.exceptions.ResponseError:
        pass
    with open(os.path.join(REPO, "core", "lua", "job_matching.lua")) as f:
        r.execute_command("FUNCTION", "LOAD", f.read())


def commandstats(r):
    """{command: calls} from INFO commandstats (counts script-internal calls too)."""
    out = {}
    for k, v in r.info("commandstats").items():
        out[k[len("cmdstat_"):]] = v["calls"]
    return out


def commandstats_usec(r):
    """{command: usec} from INFO commandstats (time spent executing; script-internal calls are
    inside their script's time and also counted under their own names)."""
    return {k[len("cmdstat_"):]: v["usec"] for k, v in r.info("commandstats").items()}


def stats_delta(before, after):
    d = {}
    for k, v in after.items():
        n = v - before.get(k, 0)
        if n:
            d[k] = n
    return d


def server_counters(r):
    """Server-side counters: reads processed (one per request batch a client sends, i.e. one
    per round trip), commands processed (client + script-internal), Redis CPU (INFO cpu)."""
    s = r.info("stats")
    c = r.info("cpu")
    return {"reads": s["total_reads_processed"], "writes": s["total_writes_processed"],
            "commands": s["total_commands_processed"],
            "cpu": c["used_cpu_sys"] + c["used_cpu_user"]}


# ---------------------------------------------------------------- the worker under test

def find_build(arg=None):
    """Directory holding emp-worker and plugins/: --build, $EMP_BENCH_BUILD, <repo>/build."""
    for d in (arg, os.environ.get("EMP_BENCH_BUILD"), os.path.join(REPO, "build")):
        if d and os.path.isfile(os.path.join(d, "emp-worker")):
            return os.path.abspath(d)
    sys.exit("emp-worker not found: build it (cmake -S %s -B /tmp/emp-bench-build "
             "-DCMAKE_BUILD_TYPE=Release -DEMP_BUILD_TESTS=OFF && cmake --build "
             "/tmp/emp-bench-build -j2) and pass --build DIR or set EMP_BENCH_BUILD" % REPO)


def plugin_built(build, name):
    return os.path.isfile(os.path.join(build, "plugins", name + ".so"))


def write_worker_config(workdir, redis_url, connectors=("mock",), redis_opts=None,
                        jobs_opts=None, services=None, worker_opts=None):
    """worker.conf + conf.d/ in workdir. connectors: names of conf.d files to enable
    (mock.conf, comfyui.conf.example, a1111.conf.example from the repo's conf.d/).
    services: per-GPU option groups, e.g. {"comfyui": {"port": 1}}."""
    os.makedirs(os.path.join(workdir, "conf.d"), exist_ok=True)
    for name in connectors:
        src = os.path.join(REPO, "conf.d", name + ".conf")
        if not os.path.exists(src):
            src += ".example"
        shutil.copy(src, os.path.join(workdir, "conf.d", name + ".conf"))

    def group(d):
        parts = []
        for k, v in (d or {}).items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, str):
                v = json.dumps(v)
            elif isinstance(v, dict):
                v = group(v)
            parts.append("%s = %s;" % (k, v))
        return "{ " + " ".join(parts) + " }"

    ro = {"url": redis_url}
    ro.update(redis_opts or {})
    wo = {"machine_id": "bench", "log_level": "info"}
    wo.update(worker_opts or {})
    svc = {n: {} for n in connectors}
    svc.update(services or {})
    path = os.path.join(workdir, "worker.conf")
    with open(path, "w") as f:
        f.write("worker = %s;\n" % group(wo))
        f.write("redis = %s;\n" % group(ro))
        if jobs_opts:
            f.write("jobs = %s;\n" % group(jobs_opts))
        f.write("gpus = ( { index = 0; services = %s; } );\n" % group(svc))
    return path


class Worker:
    def __init__(self, build, config, worker_id, log_path, env=None, gpu=0, prefix=()):
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        e["WORKER_ID"] = worker_id
        e.update(env or {})
        self.worker_id = worker_id
        self.log_path = log_path
        args = list(prefix) + [os.path.join(build, "emp-worker"), "--config", config,
                               "--gpu", str(gpu), "--plugin-dir", os.path.join(build, "plugins")]
        self.t_spawn_wall = time.time()
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(log_path, "w"), env=e)
        self.pid = self.proc.pid

    def cpu(self):
        return proc_cpu(self.pid)

    def cpu_split(self):
        return proc_cpu_split(self.pid)

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, r, timeout=15):
        """Registered (heartbeat key) and its connector ready (first idle claim seen)."""
        deadline = time.monotonic() + timeout
        key = "worker:%s:heartbeat" % self.worker_id
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("worker exited: " + self.tail())
            if r.exists(key) and "is ready" in self.tail(4000):
                return
            time.sleep(0.02)
        raise RuntimeError("worker not ready: " + self.tail())

    def tail(self, n=2000):
        try:
            with open(self.log_path) as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def stop(self, timeout=10):
        if self.proc is not None:
            stop_pid(self.pid, timeout)
            self.proc = None


def chmod_plugins(build):
    """The loader refuses plugin files or a directory writable by group/others."""
    d = os.path.join(build, "plugins")
    for p in [d] + [os.path.join(d, f) for f in os.listdir(d)]:
        try:
            st = os.stat(p)
            os.chmod(p, st.st_mode & ~0o022)
        except OSError:
            pass


# ---------------------------------------------------------------- jobs, the API's way

def iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def job_fields(job_id, service="mock", payload=None, now=None, priority=50):
    """The job:<id> hash exactly as the API's submitJob writes it (protocol section 2.1)."""
    now = time.time() if now is None else now
    created_ms = int(now * 1000)
    payload_s = json.dumps(payload if payload is not None else {"delay_ms": 0},
                           separators=(",", ":"))
    f = {"id": job_id, "service_required": service, "priority": str(priority),
         "payload": payload_s, "requirements": "", "customer_id": "", "created_at": iso_ms(now),
         "status": "pending", "retry_count": "0", "max_retries": "3", "workflow_id": "",
         "workflow_priority": "", "workflow_datetime": "", "current_step": "", "total_steps": "",
         "job_trace_id": "temp-trace-id", "job_span_id": "temp-span-id",
         "workflow_trace_id": "temp-trace-id", "workflow_span_id": "temp-span-id", "ctx": ""}
    score = priority * 10 ** 15 - created_ms // 1000
    msg = {"job_id": job_id, "service_required": service, "priority": priority,
           "payload": json.loads(payload_s), "requirements": None, "customer_id": None,
           "created_at": f["created_at"], "status": "pending", "timestamp": created_ms,
           "workflow_id": None, "workflow_priority": None, "workflow_datetime": None,
           "current_step": None, "total_steps": None}
    return f, score, json.dumps(msg, separators=(",", ":"))


def submit_api(r, job_id, service="mock", payload=None, publish=True):
    """One job the way the API submits it: HSET job:<id>, ZADD jobs:pending, PUBLISH
    job_submitted, three commands, each its own round trip."""
    f, score, msg = job_fields(job_id, service, payload)
    r.hset("job:" + job_id, mapping=f)
    r.zadd("jobs:pending", {job_id: score})
    if publish:
        r.publish("job_submitted", msg)


def preload(r, n, service="mock", payload=None, batch=500):
    """n pending jobs (hash + score, no job_submitted), pipelined; returns the ids."""
    ids = []
    now = time.time()
    p = r.pipeline(transaction=False)
    for i in range(n):
        jid = str(uuid.uuid4())
        ids.append(jid)
        f, score, _ = job_fields(jid, service, payload, now=now)
        p.hset("job:" + jid, mapping=f)
        p.zadd("jobs:pending", {jid: score})
        if (i + 1) % batch == 0:
            p.execute()
    p.execute()
    return ids


def wake_all(r, service="mock"):
    """A job_submitted without job_id: every idle worker of `service` claims at once."""
    r.publish("job_submitted", json.dumps({"service_required": service, "status": "pending",
                                           "timestamp": int(time.time() * 1000)}))


def parse_iso(s):
    """ISO-8601 UTC with milliseconds -> epoch seconds."""
    import calendar
    base, frac = s.rstrip("Z").split(".") if "." in s else (s.rstrip("Z"), "0")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(frac[:3].ljust(3, "0")) / 1000.0


def wait_completed(r, n, timeout, key="jobs:completed", poll=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if r.hlen(key) >= n:
            return True
        time.sleep(poll)
    return False


# ---------------------------------------------------------------- statistics and output

def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def median(values):
    return pct(values, 50)


def slope(xs, ys):
    """Least-squares slope."""
    n = len(xs)
    if n < 2:
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else None


def git_rev():
    try:
        return subprocess.check_output(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                       stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def redis_server_version():
    try:
        out = subprocess.check_output(["redis-server", "--version"], text=True)
        return out.split("v=", 1)[1].split()[0]
    except (OSError, IndexError, subprocess.CalledProcessError):
        return None


def write_result(name, data, quick=False):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    meta = {"benchmark": name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "git": git_rev(), "host": platform.node(), "cpus": os.cpu_count(),
            "kernel": platform.release(), "quick": quick,
            "loadavg_at_end": os.getloadavg(), "redis_version": redis_server_version()}
    data = dict(data)
    data["meta"] = meta
    path = os.path.join(RESULTS_DIR, name + ".json")
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    print("results: " + os.path.relpath(path, os.getcwd()))
    return path


def fmt(v, unit="", nd=1):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return ("%." + str(nd) + "f%s") % (v, unit)
    return "%s%s" % (v, unit)


class Workdir:
    def __init__(self, prefix="emp-bench."):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def cleanup(self, keep=False):
        if not keep:
            shutil.rmtree(self.path, ignore_errors=True)
