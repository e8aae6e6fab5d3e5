"""observe.py - server-side counters around a measured window, minus our own traffic.

Observer(srv).snapshot() twice; delta() gives per-window:
  commands   total_commands_processed (client commands + calls made inside scripts/functions)
  reads      total_reads_processed: one read event per request batch a client sends, i.e. one
             per round trip (a pipelined batch arrives in one read; the worker's requests
             are far below Redis's 16 KB read buffer)
  cs         INFO commandstats calls per command (again client + script-internal)
  cpu        redis-server utime+stime (/proc/<pid>/stat) and INFO cpu (getrusage, us)
Our own requests (INFO, HLEN polls, the wake PUBLISH) are counted and subtracted.

Monitor(port, exclude) counts commands by source from MONITOR: "[db lua]" marks a call made
inside a script or function, "[db addr]" a command a client sent. Only for small samples:
MONITOR slows Redis down.
"""
import socket
import threading
import time

import benchlib as B


class Observer:
    def __init__(self, srv):
        self.srv = srv
        self.r = srv.client()
        self.mine = {}  # our own requests by command name
        self.n = 0

    def call(self, name, *args):
        self.n += 1
        self.mine[name] = self.mine.get(name, 0) + 1
        return getattr(self.r, name)(*args)

    def addr(self):
        self.n += 1
        self.mine["client"] = self.mine.get("client", 0) + 1
        return self.r.client_info()["addr"]

    def snapshot(self):
        raw = self.r.info("commandstats")    # excludes itself
        cs = {k[len("cmdstat_"):]: v["calls"] for k, v in raw.items()}
        usec = {k[len("cmdstat_"):]: v["usec"] for k, v in raw.items()}
        self.n += 1
        mine_at_cs = dict(self.mine)
        self.mine["info"] = self.mine.get("info", 0) + 1
        s = self.r.info("stats")             # reads include itself, commands exclude itself
        self.n += 1
        self.mine["info"] += 1
        n_at_stats = self.n
        c = self.r.info("cpu")
        self.n += 1
        self.mine["info"] += 1
        return {"cs": cs, "usec": usec, "mine_cs": mine_at_cs, "n": n_at_stats,
                "reads": s["total_reads_processed"], "commands": s["total_commands_processed"],
                "cpu_info": c["used_cpu_sys"] + c["used_cpu_user"], "cpu_proc": self.srv.cpu(),
                "t": time.monotonic()}

    @staticmethod
    def delta(a, b, exclude_cs=None):
        ours = b["n"] - a["n"]
        cs = B.stats_delta(a["cs"], b["cs"])
        for name, k in b["mine_cs"].items():
            if name in cs:
                cs[name] -= k - a["mine_cs"].get(name, 0) + (1 if name == "info" else 0)
        for name, k in (exclude_cs or {}).items():
            if name in cs:
                cs[name] -= k
        cs.pop("info", None)
        cs.pop("client|info", None)
        cs = {k: v for k, v in cs.items() if v > 0}
        usec = {k: v for k, v in B.stats_delta(a["usec"], b["usec"]).items()
                if k in cs and k not in ("info", "hlen")}
        return {"commands": b["commands"] - a["commands"] - ours,
                "reads": b["reads"] - a["reads"] - ours,
                "cs": cs, "usec": usec,
                "cpu_info_s": b["cpu_info"] - a["cpu_info"],
                "cpu_proc_s": b["cpu_proc"] - a["cpu_proc"],
                "seconds": b["t"] - a["t"]}


class Monitor:
    def __init__(self, port, exclude=()):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.sendall(b"MONITOR\r\n")
        self.exclude = set(a.encode() for a in exclude)
        self.counts = {}
        self.ok = threading.Event()
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        self.ok.wait(5)

    def _run(self):
        buf = b""
        while not self.stopped:
            try:
                chunk = self.s.recv(1 << 16)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\r\n")
            for line in lines:
                if line == b"+OK":
                    self.ok.set()
                    continue
                if not line.startswith(b"+") or b"[" not in line:
                    continue
                try:
                    src = line.split(b"[", 1)[1].split(b"]", 1)[0]
                    cmd = line.split(b"] \"", 1)[1].split(b"\"", 1)[0].decode().lower()
                except IndexError:
                    continue
                addr = src.split(b" ", 1)[-1]
                if addr in self.exclude:
                    continue
                key = ("lua:" + cmd) if addr == b"lua" else cmd
                self.counts[key] = self.counts.get(key, 0) + 1

    def stop(self):
        time.sleep(0.3)
        self.stopped = True
        try:
            self.s.shutdown(socket.SHUT_RDWR)
            self.s.close()
        except OSError:
            pass
        self.t.join(2)
        return dict(self.counts)


def split_monitor(counts, jobs):
    client = {k: v / jobs for k, v in counts.items() if not k.startswith("lua:")}
    script = {k[4:]: v / jobs for k, v in counts.items() if k.startswith("lua:")}
    return {"client_commands_per_job": sum(client.values()),
            "script_commands_per_job": sum(script.values()),
            "client_by_command": dict(sorted(client.items())),
            "script_by_command": dict(sorted(script.items()))}
