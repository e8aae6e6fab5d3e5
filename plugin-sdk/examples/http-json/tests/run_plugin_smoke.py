#!/usr/bin/env python3
"""Smoke test: the built plugin in the real host, through `emp-worker run-plugin`.

Usage: run_plugin_smoke.py EMP_WORKER PLUGIN_SO FAKE_BACKEND_PY JOB_JSON

Starts the fake backend (stopped by its PID at the end), copies the plugin into a private
plugin directory with the modes the host wants (directory 0755, file 0644), and checks:
  - a job completes: progress lines, then "result {...}" with the backend's answer, exit 0;
  - a backend that is down: start says not ready; without the probe, run says
    "failed RETRY backend_down: ... connection refused"; exit 1 both times;
  - a cancelled job (--cancel-after while the backend hangs): "failed CANCELLED cancelled".
"""
import os
import shutil
import subprocess
import sys
import tempfile

worker, plugin_so, fake, job = sys.argv[1:5]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def env():
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"}
    e.update({k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")})
    return e


def run_plugin(so, args):
    cmd = [worker, "run-plugin", so, "--job", job] + args
    p = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=30)
    print("$ " + " ".join(cmd) + "  -> exit %d" % p.returncode)
    print(p.stdout + p.stderr)
    return p


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


backend = subprocess.Popen([sys.executable, fake], stdout=subprocess.PIPE, text=True)
try:
    port = int(backend.stdout.readline())  # the backend prints its port first
    with tempfile.TemporaryDirectory() as tmp:
        pdir = os.path.join(tmp, "plugins")
        os.mkdir(pdir, 0o755)
        so = os.path.join(pdir, os.path.basename(plugin_so))
        shutil.copyfile(plugin_so, so)
        os.chmod(so, 0o644)

        p = run_plugin(so, ["--option", "port=%d" % port, "--option", "model=tiny"])
        check(p.returncode == 0, "the job completes (exit 0)")
        lines = p.stdout.splitlines()
        progress = [l for l in lines if l.startswith("progress ")]
        # the host coalesces progress: the 5% step may be folded into the last one
        check(progress and progress[-1] == "progress 1.000 done", "progress ends at 1.000 done")
        res = [l for l in lines if l.startswith("result ")]
        check(len(res) == 1 and '"response": "echo: ' in res[0] and '"model": "tiny"' in res[0],
              "the result line carries the backend's answer")

        dead = free_port()
        p = run_plugin(so, ["--option", "port=%d" % dead])
        check(p.returncode == 1 and "failed RETRY start: the backend is not ready" in p.stdout,
              "a down backend: start says not ready (RETRY)")
        p = run_plugin(so, ["--option", "port=%d" % dead, "--option", "probe_path="])
        check(p.returncode == 1, "a down backend fails the job (exit 1)")
        check("failed RETRY backend_down: POST http://127.0.0.1:%d/api/generate: connection "
              "refused" % dead in p.stdout, "without the probe, run says backend_down (RETRY)")

        hang = os.path.join(tmp, "hang.json")
        with open(hang, "w") as f:
            f.write('{"prompt": "hang"}')
        cmd = [worker, "run-plugin", so, "--job", hang, "--option", "port=%d" % port,
               "--cancel-after", "300"]
        p = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=30)
        print("$ " + " ".join(cmd) + "  -> exit %d" % p.returncode)
        print(p.stdout + p.stderr)
        check(p.returncode == 1 and "failed CANCELLED cancelled: " in p.stdout,
              "a cancelled job says CANCELLED")
finally:
    backend.terminate()
    backend.wait(timeout=10)

print("run_plugin_smoke: " + ("FAILED: " + "; ".join(failures) if failures else "OK"))
sys.exit(1 if failures else 0)
