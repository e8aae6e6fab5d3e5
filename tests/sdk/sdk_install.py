#!/usr/bin/python3
"""The installed SDK, as a plugin author outside this tree gets it.

  1. `cmake --install BUILD --prefix WORK/stage` as a plain user (every file lands in the
     prefix), and `--component sdk` alone; then the prefix is MOVED to WORK/sdk: everything
     below must work from a prefix the SDK was not installed into (relocatable pkg-config and
     CMake files, no path into the build or source tree). The installed bin/emp-worker is the
     host used below.
  2. The installed files: headers, libemp_testkit.a, the two .pc files, the CMake package, the
     guide and the example; nothing private (emp_plugin_check.h, ...); emp_testkit.h includes
     only emp_plugin.h and standard headers.
  3. pkg-config answers from the moved prefix (Version is the ABI).
  4. The guide's one-line build: `cc -shared -fPIC ... $(pkg-config --cflags --libs emp-plugin
     libcjson)` of the installed example: only the entry symbol is exported.
  5. The installed example (share/doc/emp-worker/plugin-sdk/examples/http-json) configured out of
     tree with find_package(EmpPlugin) (CMAKE_PREFIX_PATH) and with pkg-config
     (PKG_CONFIG_PATH), built, and its own tests run: the test kit against its fake backend, and
     `emp-worker run-plugin` against the same. No compile command may name the source tree.
  6. The plugin built in 4., loaded by the installed emp-worker (`run-plugin <path> --job ...
     --option port=<fake port>`), runs a job against the fake backend.

Usage: sdk_install.py --build B --cmake CMAKE --ctest CTEST --worker EMP_WORKER --python PY
                      --cc CC --cflags "FLAGS" --work DIR
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ap = argparse.ArgumentParser()
for a in ("build", "cmake", "ctest", "worker", "python", "cc", "cflags", "work"):
    ap.add_argument("--" + a, default="")
args = ap.parse_args()
SRC = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)
    return cond


def env(**extra):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C",
         "HOME": os.environ.get("HOME", "/tmp")}
    e.update({k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")})
    e.update(extra)
    return e


def run(cmd, cwd=None, timeout=90, quiet=False, **extra):
    p = subprocess.run(cmd, cwd=cwd, env=env(**extra), capture_output=True, text=True,
                       timeout=timeout)
    out = p.stdout + p.stderr
    print("$ " + " ".join(cmd) + "  -> exit %d" % p.returncode)
    if p.returncode != 0 or not quiet:
        print(out[-6000:])
    return p


work = os.path.realpath(args.work)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
stage, sdk = os.path.join(work, "stage"), os.path.join(work, "sdk")

# ---- 1. install (as a user, into a temporary prefix), then move the prefix ----
p = run([args.cmake, "--install", args.build, "--prefix", stage], quiet=True)
if not check(p.returncode == 0, "cmake --install --prefix (no root paths)"):
    sys.exit(1)
# what this install wrote, from its own log (install_manifest.txt is shared with other installs)
written = re.findall(r"^-- (?:Installing|Up-to-date): (.*)$", p.stdout, re.M)
outside = [f for f in written if not f.startswith(stage + "/")]
check(written and not outside, "files installed outside the prefix: %s" % outside[:5])
p = run([args.cmake, "--install", args.build, "--component", "sdk", "--prefix", stage],
        quiet=True)
check(p.returncode == 0, "the SDK alone: cmake --install --component sdk")
os.rename(stage, sdk)
worker = os.path.join(sdk, "bin", "emp-worker")  # the installed host, moved with its prefix
if not check(os.access(worker, os.X_OK), "bin/emp-worker installed"):
    worker = args.worker

# ---- 2. the files ----
EXPECTED = [
    "include/emp-worker/emp_plugin.h", "include/emp-worker/emp_testkit.h",
    "lib/libemp_testkit.a", "lib/pkgconfig/emp-plugin.pc", "lib/pkgconfig/emp-plugin-testkit.pc",
    "lib/cmake/EmpPlugin/EmpPluginConfig.cmake", "lib/cmake/EmpPlugin/EmpPluginConfigVersion.cmake",
    "lib/cmake/EmpPlugin/EmpPluginHelpers.cmake", "share/doc/emp-worker/plugin-sdk/README.md",
    "share/doc/emp-worker/plugin-sdk/examples/http-json/CMakeLists.txt",
    "share/doc/emp-worker/plugin-sdk/examples/http-json/http_json.c",
]
for f in EXPECTED:
    check(os.path.isfile(os.path.join(sdk, f)), "installed: " + f)
installed = []
for d, _, files in os.walk(sdk):
    installed += [os.path.relpath(os.path.join(d, f), sdk) for f in files]
for f in installed:
    check(not re.search(r"(emp_plugin_check|emp_http_util|tk_http)\.h$", f),
          "private header installed: " + f)
    if re.match(r"(include/emp-worker|lib/pkgconfig|lib/cmake/EmpPlugin|"
                r"share/doc/emp-worker/plugin-sdk)/", f):
        text = open(os.path.join(sdk, f), errors="replace").read()
        check(args.build not in text and stage not in text,
              "%s names the build tree or the install stage (not relocatable)" % f)
incs = re.findall(r'#include\s+[<"]([^>"]+)[>"]',
                  open(os.path.join(sdk, "include/emp-worker/emp_testkit.h")).read())
check(incs == ["emp_plugin.h"], "emp_testkit.h includes only emp_plugin.h (got %s)" % incs)
incs = re.findall(r'#include\s+[<"]([^>"]+)[>"]',
                  open(os.path.join(sdk, "include/emp-worker/emp_plugin.h")).read())
check(set(incs) <= {"stddef.h", "stdint.h"}, "emp_plugin.h includes only standard headers")

# ---- 3. pkg-config from the moved prefix ----
pc = {"PKG_CONFIG_PATH": os.path.join(sdk, "lib/pkgconfig")}


def pkgconf(*a):
    r = run(["pkg-config"] + list(a), quiet=True, **pc)
    check(r.returncode == 0, "pkg-config " + " ".join(a))
    return r.stdout.strip()


check(pkgconf("--modversion", "emp-plugin") == "1.1", "emp-plugin Version is the ABI (1.1)")
check(pkgconf("--variable=abi_minor", "emp-plugin") == "1", "abi_minor variable")
cflags = pkgconf("--cflags", "emp-plugin").split()
incdir = [os.path.realpath(f[2:]) for f in cflags if f.startswith("-I")]
check(incdir == [os.path.join(sdk, "include/emp-worker")], "Cflags -I is in the moved prefix")
check("-fvisibility=hidden" in cflags, "Cflags hide symbols")
check(pkgconf("--libs", "emp-plugin") == "-Wl,-z,defs", "Libs: -Wl,-z,defs only")
libs = pkgconf("--libs", "emp-plugin-testkit").split()
libdir = [os.path.realpath(f[2:]) for f in libs if f.startswith("-L")]
check(libdir == [os.path.join(sdk, "lib")] and "-lemp_testkit" in libs, "testkit Libs")
check(not any("curl" in f for f in libs), "the test kit needs no libcurl")

# ---- 4. the guide's one-line build ----
example = os.path.join(sdk, "share/doc/emp-worker/plugin-sdk/examples/http-json")
plain = os.path.join(work, "plain")
os.makedirs(plain)
so_plain = os.path.join(plain, "http_json.so")
flags = pkgconf("--cflags", "--libs", "emp-plugin", "libcjson").split()
p = run([args.cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC"]
        + args.cflags.split() + ["-o", so_plain, os.path.join(example, "http_json.c")] + flags)
check(p.returncode == 0, "cc + pkg-config builds the example plugin")
if not args.cflags:  # sanitizer runtimes add their own dynamic symbols
    p = run(["nm", "-D", "--defined-only", so_plain], quiet=True)
    syms = sorted(l.split()[-1] for l in p.stdout.splitlines() if l.strip())
    syms = [s for s in syms if s not in ("_init", "_fini")]
    check(syms == ["emp_plugin_entry_v1"], "only the entry symbol is exported (got %s)" % syms)

# ---- 5. out-of-tree CMake builds of the installed example, two ways ----
for via in ("cmake", "pkgconfig"):
    b = os.path.join(work, "example-" + via)
    conf = [args.cmake, "-S", example, "-B", b, "-DEMP_SDK_VIA=" + via,
            "-DPYTHON3=" + args.python, "-DEMP_WORKER=" + worker,
            "-DCMAKE_C_COMPILER=" + args.cc, "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
            "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror " + args.cflags]
    extra = dict(pc) if via == "pkgconfig" else {}
    if via == "cmake":
        conf.append("-DCMAKE_PREFIX_PATH=" + sdk)
    p = run(conf, quiet=True, **extra)
    if not check(p.returncode == 0, "configure the example (%s)" % via):
        continue
    p = run([args.cmake, "--build", b], quiet=True, **extra)
    if not check(p.returncode == 0, "build the example (%s)" % via):
        continue
    cc = json.load(open(os.path.join(b, "compile_commands.json")))
    tree = (os.path.join(SRC, "plugin-sdk"), os.path.join(args.build, "plugin-sdk"))
    check(all(t not in c["command"] for c in cc for t in tree),
          "the %s build uses only installed files" % via)
    p = run([args.ctest, "--output-on-failure"], cwd=b, quiet=True, **extra)
    check(p.returncode == 0 and "100% tests passed, 0 tests failed out of 2" in p.stdout,
          "the example's tests (%s build): test kit + run-plugin" % via)

# ---- 6. the cc-built plugin in this tree's emp-worker ----
backend = subprocess.Popen([args.python, os.path.join(example, "tests/fake_backend.py")],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
try:
    port = int(backend.stdout.readline())
    pdir = os.path.join(work, "plugins")
    os.mkdir(pdir, 0o755)
    so = os.path.join(pdir, "http_json.so")
    if os.path.exists(so_plain):
        shutil.copyfile(so_plain, so)
        os.chmod(so, 0o644)
    p = run([worker, "run-plugin", so, "--job", os.path.join(example, "tests/job.json"),
             "--option", "port=%d" % port])
    res = [l for l in p.stdout.splitlines() if l.startswith("result ")]
    check(p.returncode == 0 and len(res) == 1 and '"response": "echo: Why is the sky blue?"'
          in res[0] and '"seed": 18446744073709551557' in res[0],
          "run-plugin runs a job through the plugin against the fake backend")
finally:
    backend.terminate()
    backend.wait(timeout=10)

print("sdk_install: " + ("FAILED: " + "; ".join(failures) if failures else "OK"))
sys.exit(1 if failures else 0)
