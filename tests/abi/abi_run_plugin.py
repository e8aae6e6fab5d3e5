#!/usr/bin/python3
"""ABI compatibility through the emp-worker binary (`run-plugin`, `--list-plugins`).

Usage: abi_run_plugin.py EMP_WORKER FIXTURE_PLUGIN_DIR

A private plugin directory (0755, files 0644) holds the fixtures:
  abi_v10.so   built against the ABI 1.0 header: a job runs to its result (options, job field,
               progress), a cancelled job says CANCELLED, --list-plugins shows it as ABI 1.0;
  abi_next.so  claims minor+1: run-plugin refuses it ("newer than this host's", exit 1);
  abi_v2.so    exports emp_plugin_entry_v2: refused ("exports the entry of plugin ABI 2").
The exact refusal texts are pinned in-process by tests/loader (broken_cases.h) and
test_abi_load; here only that run-plugin reports them and fails.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

worker, fixtures = sys.argv[1:3]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def env():
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
    e.update({k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")})
    return e


def run(args):
    cmd = [worker] + args
    p = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=30)
    print("$ " + " ".join(cmd) + "  -> exit %d" % p.returncode)
    print(p.stdout + p.stderr)
    return p


with tempfile.TemporaryDirectory() as tmp:
    pdir = os.path.join(tmp, "plugins")
    os.mkdir(pdir)
    os.chmod(pdir, 0o755)
    for name in ("abi_v10", "abi_next", "abi_v2"):
        dst = os.path.join(pdir, name + ".so")
        shutil.copyfile(os.path.join(fixtures, name + ".so"), dst)
        os.chmod(dst, 0o644)
    job = os.path.join(tmp, "job.json")
    with open(job, "w") as f:
        f.write('{"delay_ms": 20}')
    slow = os.path.join(tmp, "slow.json")
    with open(slow, "w") as f:
        f.write('{"delay_ms": 30000}')
    v10 = os.path.join(pdir, "abi_v10.so")

    p = run(["run-plugin", v10, "--job", job, "--option", "greeting=hi", "--field",
             'ctx={"k":1}', "--job-id", "abi-1"])
    check(p.returncode == 0, "the 1.0 plugin runs a job (exit 0)")
    progress = [l for l in p.stdout.splitlines() if l.startswith("progress ")]
    check(progress and progress[-1] == "progress 1.000 v1.0 plugin done",
          "its progress is reported (coalesced: the last value always)")
    m = re.search(r"^result (.*)$", p.stdout, re.M)
    check(m is not None and m.group(1).startswith('{"plugin_abi":"1.0","host_abi":"1.')
          and '"host_table_ok":true,"greeting":"hi","payload_bytes":16,"ctx":{"k":1},'
              '"job":"abi-1"}' in m.group(1), "its result is the 1.0 plugin's")

    p = run(["run-plugin", v10, "--job", slow, "--cancel-after", "100"])
    check(p.returncode == 1 and "failed CANCELLED cancelled: v1.0 plugin cancelled" in p.stdout,
          "the 1.0 plugin is cancelled through the flag and fd")

    p = run(["run-plugin", "abi_v10", "--plugin-dir", pdir, "--job", job, "--option", "bogus=1"])
    check(p.returncode == 1 and "--option bogus: 'abi_v10' option 'bogus': unknown option"
          in p.stderr, "unknown options are still detected for a 1.0 plugin")

    for name, phrase in (("abi_next", "newer than this host's"),
                         ("abi_v2", "exports the entry of plugin ABI 2")):
        so = os.path.join(pdir, name + ".so")
        p = run(["run-plugin", so, "--job", job])
        check(p.returncode == 1 and p.stdout == "", "%s: refused, no job run" % name)
        check(("run-plugin: %s: " % so) in p.stderr and phrase in p.stderr,
              "%s: refused with the loader's message" % name)

    p = run(["--list-plugins", "--plugin-dir", pdir])
    check(re.search(r"^abi_v10\s+1\.0\.0\s+ABI 1\.0\s", p.stdout, re.M) is not None,
          "--list-plugins shows the 1.0 plugin as loadable, ABI 1.0")
    check("abi_next.so: REFUSED:" in p.stdout and "abi_v2.so: REFUSED:" in p.stdout,
          "--list-plugins refuses the other two")

print("abi_run_plugin: " + ("FAILED: " + "; ".join(failures) if failures else "OK"))
sys.exit(1 if failures else 0)
