#!/usr/bin/python3
"""End-to-end loader checks through the emp-worker binary.

Usage: loader_e2e.py list|check EMP_WORKER BROKEN_DIR PLUGIN_BUILD_DIR

A private plugin directory (0755, files 0644) holds mock.so, every broken plugin and a
garbage.so that is not an ELF file.
  list   `--list-plugins`: one REFUSED line per broken file with its reason, the mock line,
         and a plugin directory writable by others refused as a whole.
  check  `--check-config` with conf.d files enabling broken plugins next to mock: each broken
         one is reported with its conf.d file:line, and mock is still loaded and its options
         checked (its option error shows that its create ran).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

BROKEN = {  # file -> key phrase of its refusal
    "noentry": "no entry symbol emp_plugin_entry_v1",
    "abi2sym": "exports the entry of plugin ABI 2",
    "abi2desc": "built for plugin ABI 2.0",
    "newminor": "newer than this host's",
    "small": "smaller than the",
    "nocreate": "has no create callback",
    "norun": "has no run callback",
    "nodestroy": "has no destroy callback",
    "nullentry": "returned NULL",
    "noname": "descriptor has no name",
    "unresolved": "unresolved symbol",
    "misnamed": 'the plugin calls itself "othername", not "misnamed"',
    "garbage": "cannot load",
}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def env():
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
    e.update({k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")})
    return e


def make_plugin_dir(tmp, broken_dir, plugin_build_dir):
    d = os.path.join(tmp, "plugins")
    os.mkdir(d)
    os.chmod(d, 0o755)
    shutil.copyfile(os.path.join(plugin_build_dir, "mock.so"), os.path.join(d, "mock.so"))
    for name in BROKEN:
        if name != "garbage":
            shutil.copyfile(os.path.join(broken_dir, name + ".so"), os.path.join(d, name + ".so"))
    with open(os.path.join(d, "garbage.so"), "w") as f:
        f.write("not a shared object\n" * 20)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    return d


def run(cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=20)
    print("$ " + " ".join(cmd) + f"  -> exit {p.returncode}")
    print(p.stdout + p.stderr)
    return p


def do_list(worker, pdir):
    p = run([worker, "--list-plugins", "--plugin-dir", pdir])
    lines = p.stdout.splitlines()
    check(lines and lines[0] == f"plugins in {pdir}:", "header line")
    check(p.stderr == "", "nothing on stderr")
    for name, phrase in BROKEN.items():
        path = f"{pdir}/{name}.so"
        mine = [l for l in lines if l.startswith(f"{path}: REFUSED: {path}: ")]
        check(len(mine) == 1, f"one REFUSED line for {name}.so")
        check(bool(mine) and phrase in mine[0], f"{name}.so refused with \"{phrase}\"")
    mock = [l for l in lines if re.match(r"^mock +1\.0\.0 +ABI 1\.\d+  Mock service", l)]
    check(len(mock) == 1, "the mock line")
    check(len(lines) == 1 + len(BROKEN) + 1, "one line per file")
    # sorted by file name
    files = [l.split(":")[0] for l in lines[1:] if ": REFUSED: " in l]
    check(files == sorted(files), "REFUSED lines in file-name order")
    # ldd hint for the unresolved one
    unres = [l for l in lines if l.startswith(f"{pdir}/unresolved.so:")]
    check(bool(unres) and f"run `ldd -r {pdir}/unresolved.so`" in unres[0], "ldd hint")

    os.chmod(pdir, 0o757)
    p = run([worker, "--list-plugins", "--plugin-dir", pdir])
    os.chmod(pdir, 0o755)
    want = (f"plugins in {pdir}:\n{pdir}: REFUSED: {pdir}: refused: plugin directory is "
            f"writable by group or others (mode 757); run `chmod go-w {pdir}`\n")
    check(p.stdout == want, "a writable plugin directory is refused as a whole")
    check(p.returncode != 0, "non-zero exit for a refused directory")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def do_check(worker, pdir, tmp):
    # 1. one broken plugin next to mock: exactly its error, mock loads
    case = os.path.join(tmp, "one")
    write(os.path.join(case, "worker.conf"), "# defaults\n")
    write(os.path.join(case, "conf.d", "mock.conf"), 'connector = { plugin = "mock"; };\n')
    write(os.path.join(case, "conf.d", "norun.conf"),
          '# broken on purpose\nconnector = {\n  plugin = "norun";\n};\n')
    p = run([worker, "--check-config", "--config", "worker.conf", "--plugin-dir", pdir], cwd=case)
    want = [f"./conf.d/norun.conf:2: connector 'norun': {pdir}/norun.so: plugin 'norun' has no "
            "run callback, which is mandatory",
            "emp-worker: configuration worker.conf has 1 error(s)"]
    check(p.returncode == 1, "exit 1 with one broken plugin")
    check(p.stderr.splitlines() == want, "exact stderr with one broken plugin")
    check(p.stdout == "", "nothing on stdout")

    # 2. several broken ones around mock; mock's create still runs (its option error shows)
    case = os.path.join(tmp, "many")
    write(os.path.join(case, "worker.conf"), "# defaults\n")
    write(os.path.join(case, "conf.d", "10-abi2desc.conf"), 'connector = { plugin = "abi2desc"; };\n')
    write(os.path.join(case, "conf.d", "20-mock.conf"),
          'connector = {\n  plugin = "mock";\n  options = { default_delay_ms = "slow"; };\n};\n')
    write(os.path.join(case, "conf.d", "30-unresolved.conf"),
          '\nconnector = { plugin = "unresolved"; };\n')
    write(os.path.join(case, "conf.d", "40-misnamed.conf"), 'connector = { plugin = "misnamed"; };\n')
    p = run([worker, "--check-config", "--config", "worker.conf", "--plugin-dir", pdir], cwd=case)
    got = p.stderr.splitlines()
    check(p.returncode == 1, "exit 1 with several broken plugins")
    check(len(got) == 5, "five stderr lines")
    if len(got) == 5:
        check(got[0] == f"./conf.d/10-abi2desc.conf:1: connector 'abi2desc': {pdir}/abi2desc.so: "
                        "built for plugin ABI 2.0, this host speaks ABI 1.x; rebuild the plugin "
                        "against this host's emp_plugin.h", "abi2desc line")
        check(got[1] == "./conf.d/20-mock.conf:3: 'mock' option 'default_delay_ms': expected an "
                        "integer", "mock still loaded: its option is checked")
        check(got[2].startswith(f"./conf.d/30-unresolved.conf:2: connector 'unresolved': "
                                f"{pdir}/unresolved.so: unresolved symbol: ")
              and "emp_test_undefined_function" in got[2]
              and f"run `ldd -r {pdir}/unresolved.so`" in got[2], "unresolved line")
        check(got[3] == f"./conf.d/40-misnamed.conf:1: connector 'misnamed': {pdir}/misnamed.so: "
                        "the plugin calls itself \"othername\", not \"misnamed\"; rename the file",
              "misnamed line")
        check(got[4] == "emp-worker: configuration worker.conf has 4 error(s)", "count line")


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("list", "check"):
        print(__doc__)
        return 2
    mode = sys.argv[1]
    worker, broken_dir, plugin_build_dir = (os.path.abspath(a) for a in sys.argv[2:])
    with tempfile.TemporaryDirectory(prefix="emp-loader-") as tmp:
        pdir = make_plugin_dir(tmp, broken_dir, plugin_build_dir)
        if mode == "list":
            do_list(worker, pdir)
        else:
            do_check(worker, pdir, tmp)
        os.chmod(pdir, 0o755)
    print("FAILED: %d check(s)" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
