#!/usr/bin/python3
"""check_exports.py NM PLUGIN.so... - each plugin's dynamic symbol table defines its entry
symbol (emp_plugin_entry_v<major>) and nothing else: the code of plugins/common is linked in
statically with hidden visibility, so none of it (ejson_*, ebuf_*, ebase64_*) may leak."""
import re
import subprocess
import sys


def main():
    nm, plugins = sys.argv[1], sys.argv[2:]
    bad = 0
    for so in plugins:
        out = subprocess.run([nm, '-D', '--defined-only', so], capture_output=True, text=True,
                             check=True).stdout
        syms = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
        extra = [s for s in syms if not re.fullmatch(r'emp_plugin_entry_v\d+', s)]
        entry = [s for s in syms if s not in extra]
        if extra or len(entry) != 1:
            print('%s: exports %s (want exactly one emp_plugin_entry_v<N>)' % (so, syms))
            bad = 1
        else:
            print('%s: exports only %s' % (so, entry[0]))
    return bad


if __name__ == '__main__':
    sys.exit(main())
