#!/usr/bin/python3
"""Runs `emp-worker --check-config` on one config fixture and compares stderr exactly.

Usage:
  check_config.py EMP_WORKER PLUGIN_BUILD_DIR case FIXTURE_DIR
  check_config.py EMP_WORKER PLUGIN_BUILD_DIR example SOURCE_DIR [GPU]

A fixture directory holds:
  worker.conf        the main file (conf_dir defaults to conf.d next to it)
  conf.d/*.conf      connector files (optional)
  expected.stderr    the exact stderr, line by line; @PLUGIN_DIR@ stands for the plugin dir
  env                optional KEY=VALUE lines added to a minimal environment
  args               optional extra command-line arguments (one per line)

The fixture is copied into a private temporary directory (files 0644, directories 0755) and
emp-worker runs there with `--config worker.conf`, so the messages cite the relative paths
worker.conf and ./conf.d/NAME.conf. mock.so is copied into a private plugin directory (0755,
file 0644), so the loader's permission checks pass whatever the umask or the build tree is.
The environment is minimal (PATH, LANG=C, sanitizer options) so that variables of the
machine running the tests (HUB_REDIS_URL, WORKER_ID...) cannot change the result.
"""
import os
import shutil
import subprocess
import sys
import tempfile

TIMEOUT_S = 20


def base_env():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
    for k, v in os.environ.items():
        if k.endswith("SAN_OPTIONS") or k == "LD_LIBRARY_PATH":
            env[k] = v
    return env


def copy_tree(src, dst):
    shutil.copytree(src, dst)
    for root, dirs, files in os.walk(dst):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


def private_plugin_dir(tmp, plugin_build_dir):
    pdir = os.path.join(tmp, "plugins")
    os.mkdir(pdir)
    os.chmod(pdir, 0o755)
    shutil.copyfile(os.path.join(plugin_build_dir, "mock.so"), os.path.join(pdir, "mock.so"))
    os.chmod(os.path.join(pdir, "mock.so"), 0o644)
    return pdir


def run(worker, cwd, pdir, extra_args, env):
    cmd = [worker, "--check-config", "--config", "worker.conf", "--plugin-dir", pdir] + extra_args
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    return p.returncode, p.stdout, p.stderr


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]


def check_case(worker, plugin_build_dir, fixture):
    name = os.path.basename(os.path.normpath(fixture))
    with tempfile.TemporaryDirectory(prefix="emp-cfg-") as tmp:
        pdir = private_plugin_dir(tmp, plugin_build_dir)
        case = os.path.join(tmp, "case")
        copy_tree(fixture, case)
        env = base_env()
        for line in read_lines(os.path.join(fixture, "env")):
            k, _, v = line.partition("=")
            env[k] = v
        args = read_lines(os.path.join(fixture, "args"))
        rc, out, err = run(worker, case, pdir, args, env)
        with open(os.path.join(fixture, "expected.stderr")) as f:
            want = f.read().splitlines()
        got = err.replace(pdir, "@PLUGIN_DIR@").splitlines()
        ok = True
        if rc <= 0:
            print(f"{name}: expected a non-zero exit, got {rc}")
            ok = False
        if got != want:
            print(f"{name}: stderr differs")
            print("--- expected")
            print("\n".join(want))
            print("--- got")
            print("\n".join(got))
            ok = False
        if out:
            print(f"{name}: unexpected stdout: {out!r}")
            ok = False
        if ok:
            print(f"{name}: OK (exit {rc}, {len(want)} line(s))")
        return 0 if ok else 1


def check_example(worker, plugin_build_dir, source_dir, gpu):
    with tempfile.TemporaryDirectory(prefix="emp-cfg-") as tmp:
        pdir = private_plugin_dir(tmp, plugin_build_dir)
        case = os.path.join(tmp, "example")
        os.mkdir(case)
        shutil.copyfile(os.path.join(source_dir, "dist", "worker.conf"),
                        os.path.join(case, "worker.conf"))
        copy_tree(os.path.join(source_dir, "conf.d"), os.path.join(case, "conf.d"))
        os.chmod(os.path.join(case, "worker.conf"), 0o644)
        args = ["--gpu", gpu] if gpu is not None else []
        env = base_env()
        env["MACHINE_ID"] = "testbox"
        rc, out, err = run(worker, case, pdir, args, env)
        want = ("emp-worker: configuration worker.conf is OK (gpu %s, worker "
                "testbox-worker-mock-%s, 1 connector(s): mock)\n" % (gpu or "0", gpu or "0"))
        if rc != 0 or err or out != want:
            print(f"example: exit {rc}\n--- stdout\n{out}--- stderr\n{err}--- wanted stdout\n{want}")
            return 1
        print("example: OK: " + out.strip())
        return 0


def main():
    if len(sys.argv) < 5:
        print(__doc__)
        return 2
    worker, plugin_build_dir, mode, path = sys.argv[1:5]
    worker, plugin_build_dir, path = (os.path.abspath(p) for p in (worker, plugin_build_dir, path))
    if mode == "case":
        return check_case(worker, plugin_build_dir, path)
    if mode == "example":
        return check_example(worker, plugin_build_dir, path,
                             sys.argv[5] if len(sys.argv) > 5 else None)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
