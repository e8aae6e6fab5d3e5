#!/usr/bin/python3
"""Every C snippet of plugin-sdk/README.md compiles (see the guide's "About the snippets").

  ```c           a complete translation unit: compiled; if it defines EMP_PLUGIN_ENTRY, linked as
                 a plugin (-shared -Wl,-z,defs) named after its descriptor's .name; if it defines
                 main, linked with the test kit and run with the guide's first plugin as argv[1]
  ```c fragment  a function body: compiled inside
                 static emp_result_t fragment(const emp_host_api_t *api, emp_host_t *host,
                                              emp_job_t *job, void *state)
                 after emp_plugin.h, stdio.h, stdlib.h, string.h; its #include lines go first

Usage: guide_snippets.py --guide README.md --include SDK_INCLUDE_DIR --testkit LIBEMP_TESTKIT.A
                         --cc CC --cflags "FLAGS" --work DIR
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ap = argparse.ArgumentParser()
for a in ("guide", "include", "testkit", "cc", "cflags", "work"):
    ap.add_argument("--" + a, default="")
args = ap.parse_args()
WARN = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wstrict-prototypes",
        "-Wmissing-prototypes", "-Wvla", "-Wformat=2"]
failures = []

shutil.rmtree(args.work, ignore_errors=True)
os.makedirs(args.work)

blocks = []  # (kind, first line number, text)
lines = open(args.guide).read().split("\n")
i = 0
while i < len(lines):
    m = re.match(r"^\s*```(\S*)\s*(\S*)\s*$", lines[i])
    if m and m.group(1):
        lang, tag, start = m.group(1), m.group(2), i + 1
        body = []
        i += 1
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        if lang == "c":
            blocks.append(("fragment" if tag == "fragment" else "unit", start + 1,
                           "\n".join(body) + "\n"))
    i += 1

if not blocks:
    print("no C blocks found in " + args.guide)
    sys.exit(1)


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stdout + p.stderr


first_plugin = None
mains = []
for n, (kind, line, text) in enumerate(blocks):
    where = "%s:%d" % (args.guide, line)
    if kind == "fragment":
        incs = [l for l in text.split("\n") if l.startswith("#include")]
        body = "\n".join(l for l in text.split("\n") if not l.startswith("#include"))
        src = ("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
               "#include \"emp_plugin.h\"\n" + "\n".join(incs) + "\n"
               "emp_result_t fragment_%d(const emp_host_api_t *api, emp_host_t *host, "
               "emp_job_t *job, void *state);\n"
               "emp_result_t fragment_%d(const emp_host_api_t *api, emp_host_t *host, "
               "emp_job_t *job, void *state)\n{\n"
               "(void)api; (void)host; (void)job; (void)state;\n#line %d \"%s\"\n%s\n"
               "return EMP_OK;\n}\n" % (n, n, line, args.guide, body))
    else:
        src = "#line %d \"%s\"\n%s" % (line, args.guide, text)
    c = os.path.join(args.work, "snippet%02d.c" % n)
    with open(c, "w") as f:
        f.write(src)
    o = c[:-2] + ".o"
    rc, out = run([args.cc] + WARN + args.cflags.split() + ["-fPIC", "-I", args.include, "-c",
                                                            c, "-o", o])
    if rc != 0:
        failures.append(where)
        print("FAIL: the %s at %s does not compile:\n%s" % (kind, where, out))
        continue
    print("ok: %s at %s compiles" % (kind, where))
    if kind == "unit" and re.search(r"EMP_PLUGIN_ENTRY\s*\(void\)\s*\{", text):
        m = re.search(r'\.name\s*=\s*"([a-z0-9_-]+)"', text)
        so = os.path.join(args.work, (m.group(1) if m else "snippet%02d" % n) + ".so")
        rc, out = run([args.cc] + args.cflags.split() + ["-shared", "-Wl,-z,defs", "-o", so, o])
        if rc != 0:
            failures.append(where)
            print("FAIL: the plugin at %s does not link with -z defs:\n%s" % (where, out))
        else:
            print("ok: linked as plugin " + os.path.basename(so))
            first_plugin = first_plugin or so
    if kind == "unit" and re.search(r"\bint\s+main\s*\(", text):
        exe = c[:-2]
        rc, out = run([args.cc] + args.cflags.split() + ["-o", exe, o, args.testkit, "-ldl",
                                                         "-lpthread", "-lm"])
        if rc != 0:
            failures.append(where)
            print("FAIL: the program at %s does not link with the test kit:\n%s" % (where, out))
        else:
            mains.append((where, exe))

# The test programs run against the guide's first plugin (python3 from /usr/bin first).
env = {"PATH": "/usr/bin:/bin", "LANG": "C"}
env.update({k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")})
for where, exe in mains:
    if first_plugin is None:
        failures.append(where)
        print("FAIL: no plugin snippet to run %s against" % where)
        continue
    rc, out = run([exe, first_plugin], env=env)
    print(out)
    if rc != 0:
        failures.append(where)
        print("FAIL: the program at %s exits %d" % (where, rc))
    else:
        print("ok: the program at %s runs against %s" % (where, os.path.basename(first_plugin)))

print("guide_snippets: %d C blocks, %s" % (len(blocks), "FAILED: " + ", ".join(failures)
                                                         if failures else "all compile"))
sys.exit(1 if failures else 0)
