#!/usr/bin/python3
"""`emp-worker run-plugin` with mock.so: the real host API and job thread, no Redis.

Usage: run_plugin.py CASE EMP_WORKER PLUGIN_BUILD_DIR   (CASE: a name below, or "all")

mock.so is copied into a private plugin directory (0755, file 0644). Every wait is on the
process's own output or exit, bounded by a deadline; there is no fixed sleep.
"""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DEADLINE_S = 20
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def env():
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
    e.update({k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")})
    return e


class Ctx:
    def __init__(self, worker, tmp, plugin_build_dir):
        self.worker = worker
        self.tmp = tmp
        self.pdir = os.path.join(tmp, "plugins")
        os.mkdir(self.pdir)
        os.chmod(self.pdir, 0o755)
        dst = os.path.join(self.pdir, "mock.so")
        shutil.copyfile(os.path.join(plugin_build_dir, "mock.so"), dst)
        os.chmod(dst, 0o644)

    def job(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def cmd(self, job, *extra):
        return [self.worker, "run-plugin", "mock", "--plugin-dir", self.pdir, "--job", job,
                "--job-id", "job-1"] + list(extra)

    def run(self, job, *extra):
        c = self.cmd(job, *extra)
        p = subprocess.run(c, env=env(), capture_output=True, text=True, timeout=DEADLINE_S)
        print("$ " + " ".join(c[1:]) + f"  -> exit {p.returncode}")
        print(p.stdout + p.stderr, end="")
        return p


def case_success(c):
    job = c.job("ok.json", '{"delay_ms": 300, "test_data": {"n": 1, "s": "x"}}')
    p = c.run(job)
    lines = p.stdout.splitlines()
    check(p.returncode == 0, "success: exit 0")
    check(lines[:3] == ["progress 0.100 mock: started", "progress 0.800 mock: processing",
                        "progress 1.000 mock: done"], "success: progress 0.1, 0.8, 1.0")
    check(len(lines) == 4 and lines[3].startswith("result {"), "success: then the result line")
    if len(lines) == 4 and lines[3].startswith("result "):
        r = json.loads(lines[3][len("result "):])
        check(r.get("test_data") == {"n": 1, "s": "x"}, "success: test_data echoed")
        check(r.get("mock_url") == "mock://job-1", "success: mock_url from the job id")
        check(isinstance(r.get("processing_time_ms"), (int, float))
              and r["processing_time_ms"] >= 300, "success: processing time covers the delay")
    check(p.stderr == "", "success: nothing on stderr")


def case_option(c):
    # default_delay_ms from --option applies when the payload has no delay
    job = c.job("nodelay.json", "{}")
    p = c.run(job, "--option", "default_delay_ms=0")
    check(p.returncode == 0 and p.stdout.splitlines()[-1].startswith("result {"),
          "--option default_delay_ms=0: success")


def case_cancel_after(c):
    job = c.job("long.json", '{"delay_ms": 60000}')
    t0 = time.monotonic()
    p = c.run(job, "--cancel-after", "100")
    took = time.monotonic() - t0
    check(p.returncode == 1, "cancel-after: exit 1")
    check(p.stdout.splitlines() == ["progress 0.100 mock: started",
                                    "failed CANCELLED cancelled: mock: cancelled"],
          "cancel-after: progress then failed CANCELLED")
    check(took < DEADLINE_S / 2, "cancel-after: the 60 s job stopped early")


def case_sigint(c):
    job = c.job("long2.json", '{"delay_ms": 60000}')
    proc = subprocess.Popen(c.cmd(job), env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # wait (bounded) for the first progress line: the job is running, SIGINT is routed
        ready, _, _ = select.select([proc.stdout], [], [], DEADLINE_S)
        first = proc.stdout.readline() if ready else ""
        check(first == "progress 0.100 mock: started\n", "SIGINT: job started")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"$ run-plugin (SIGINT) -> exit {proc.returncode}\n{first}{out}{err}", end="")
    check(proc.returncode == 1, "SIGINT: exit 1")
    check(out == "failed CANCELLED cancelled: mock: cancelled\n", "SIGINT: failed CANCELLED")


def case_unknown_option(c):
    job = c.job("ok2.json", '{"delay_ms": 0}')
    p = c.run(job, "--option", "bogus=1")
    check(p.returncode == 1, "unknown option: exit 1")
    check(p.stdout == "", "unknown option: the job is not run")
    check(p.stderr == "--option bogus: 'mock' option 'bogus': unknown option\n",
          "unknown option: the message")
    p = c.run(job, "--option", "default_delay_ms=soon")
    check(p.returncode == 1 and p.stderr ==
          "--option default_delay_ms: 'mock' option 'default_delay_ms': expected an integer, "
          "got \"soon\"\n", "wrong-typed option: the message")
    p = c.run(job, "--option", "novalue")
    check(p.returncode == 2 and p.stderr.startswith(
        "run-plugin: --option expects KEY=VALUE, got \"novalue\"\n"), "--option without =")


def case_bad_payload(c):
    for name, text in (("notjson.json", "this is not JSON"), ("array.json", "[1, 2]"),
                       ("truncated.json", '{"delay_ms": 1')):
        job = c.job(name, text)
        p = c.run(job)
        check(p.returncode == 1, f"{name}: exit 1")
        check(p.stdout == "", f"{name}: the job is not run")
        check(p.stderr == f"run-plugin: {job}: the job payload must be a JSON object\n",
              f"{name}: the message")
    missing = os.path.join(c.tmp, "missing.json")
    p = c.run(missing)
    check(p.returncode == 1 and p.stderr ==
          f"run-plugin: cannot read {missing}: No such file or directory\n", "missing job file")


def case_should_fail(c):
    job = c.job("fail.json", '{"delay_ms": 0, "should_fail": true}')
    p = c.run(job)
    check(p.returncode == 1, "should_fail: exit 1")
    check(p.stdout.splitlines()[-1] == "failed RETRY mock_failure: Mock failure requested",
          "should_fail: failed RETRY")


def case_fail_permanently(c):
    job = c.job("failp.json", '{"delay_ms": 0, "fail_permanently": true}')
    p = c.run(job)
    check(p.returncode == 1, "fail_permanently: exit 1")
    check(p.stdout.splitlines()[-1] == "failed FAIL mock_failure: Mock failure requested",
          "fail_permanently: failed FAIL")


CASES = {n[len("case_"):]: f for n, f in globals().items() if n.startswith("case_")}


def main():
    if len(sys.argv) != 4 or (sys.argv[1] not in CASES and sys.argv[1] != "all"):
        print(__doc__ + "\ncases: " + ", ".join(CASES))
        return 2
    name = sys.argv[1]
    worker, plugin_build_dir = (os.path.abspath(a) for a in sys.argv[2:])
    with tempfile.TemporaryDirectory(prefix="emp-runplugin-") as tmp:
        c = Ctx(worker, tmp, plugin_build_dir)
        for n, f in CASES.items():
            if name in (n, "all"):
                f(c)
    print("FAILED: %d check(s)" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
