#!/usr/bin/python3
"""reference.py - replays the reference TypeScript worker's Redis traffic (the baseline).

Not the TS worker itself: a python3-redis client that issues, per job, the exact command
sequence of emp-job-queue.md section 5.1 (observed with MONITOR on the real worker), one
command per round trip (no pipelining, no MULTI), with the reference's poll loop (a timer of
WORKER_POLL_INTERVAL_MS, 1 s by default, that claims only while idle) and its fixed 100 ms
wait before completing. Messages have the reference's shapes and roughly its sizes.

  reference.py worker --port P [--worker-id ID] [--poll-ms 1000] [--seconds S | --jobs N]
      one worker; prints a JSON summary on exit (jobs, its own CPU, commands it issued)
  reference.py pollers --port P --count 100 --seconds S [--poll-ms 1000]
      N idle workers in one process (one connection each): FCALL every poll interval,
      staggered, plus the 30 s heartbeat; prints a JSON summary

The CPU this replay spends is python's, not node's: the reference's real worker CPU is in
emp-job-queue.md section 12 (7-8 ms per job).
"""
import argparse
import json
import os
import signal
import socket
import sys
import time

import redis

MACHINE = "bench"
VERSION = "ref-replay"


def iso(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def ms():
    return int(time.time() * 1000)


def caps(worker_id, service="mock"):
    """The capabilities JSON the TS mock worker sends to findMatchingJob (section 3.4)."""
    return json.dumps({
        "worker_id": worker_id, "machine_id": MACHINE, "services": [service],
        "job_service_required_map": [service],
        "hardware": {"ram_gb": 8, "gpu_memory_gb": 8, "gpu_model": "unknown"},
        "models": {service: ["mock-model"]},
        "customer_access": {"isolation": "loose", "max_concurrent_customers": 10},
        "performance": {"concurrent_jobs": 1, "quality_levels": ["fast", "balanced", "quality"],
                        "max_processing_time_minutes": 60},
        "metadata": {"version": "dev-unknown", "node_version": "v20.20.2", "platform": "linux",
                     "arch": "x64"}}, separators=(",", ":"))


def j(o):
    return json.dumps(o, separators=(",", ":"))


class RefWorker:
    def __init__(self, port, worker_id, poll_ms=1000, service="mock"):
        self.r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        self.wid = worker_id
        self.caps = caps(worker_id, service)
        self.poll_s = poll_ms / 1000.0
        self.machine_chan = "machine:%s:worker:%s" % (MACHINE, worker_id)
        self.commands = 0
        self.other = {}  # commands outside the job path (registration, heartbeat, empty polls)
        self.jobs = 0
        self.polls = 0
        self.empty_polls = 0

    def cmd(self, *args):
        self.commands += 1
        return self.r.execute_command(*args)

    def count_other(self, name, n=1):
        self.other[name] = self.other.get(name, 0) + n

    def machine_event(self, status, job_id):
        return j({"worker_id": self.wid, "event_type": "worker_status_changed",
                  "data": {"status": status, "is_connected": True, "current_job_id": job_id,
                           "last_activity": ms(), "version": VERSION,
                           "build_timestamp": "2025-10-04T00:00:00.000Z",
                           "build_info": "status-events-v2", "capabilities": ["mock"]},
                  "timestamp": ms()})

    def heartbeat(self):
        now = iso()
        self.cmd("HMSET", "worker:" + self.wid, "last_heartbeat", now)
        self.cmd("SETEX", "worker:%s:heartbeat" % self.wid, 60, now)
        self.count_other("hmset")
        self.count_other("setex")

    def poll(self):
        """FCALL findMatchingJob; runs the job when one is claimed."""
        self.polls += 1
        reply = self.cmd("FCALL", "findMatchingJob", 0, self.caps, 100)
        if reply is None:
            self.empty_polls += 1
            self.count_other("fcall")
            return None
        claim = json.loads(reply)
        return claim

    def run_job(self, claim):
        jid, job = claim["jobId"], claim["job"]
        t0 = time.monotonic()
        # 1-3: busy events, in_progress
        self.cmd("PUBLISH", "worker_status", j({"worker_id": self.wid, "old_status": "idle",
                                                "new_status": "busy", "current_job_id": jid,
                                                "timestamp": ms()}))
        self.cmd("PUBLISH", self.machine_chan, self.machine_event("busy", jid))
        self.cmd("HMSET", "job:" + jid, "status", "in_progress", "started_at", iso())
        # the mock connector: progress 10, 80, 100 around its delay
        try:
            delay = float(json.loads(job.get("payload") or "{}").get("delay_ms", 100)) / 1000.0
        except (ValueError, AttributeError):
            delay = 0.1
        for pct, msg, wait in ((10, "Processing mock job", delay * 0.7),
                               (80, "Finalizing mock job", delay * 0.3),
                               (100, "Mock job completed", 0)):
            self.cmd("HMSET", "job:%s:progress" % jid, "progress", pct, "status", "in_progress",
                     "message", msg, "updated_at", iso())
            self.cmd("PUBLISH", "update_job_progress", j({
                "job_id": jid, "worker_id": self.wid, "progress": pct, "status": "in_progress",
                "message": msg, "current_step": "", "total_steps": 0,
                "estimated_completion": "", "timestamp": ms()}))
            if wait > 0:
                time.sleep(wait)
        # 5: the fixed wait "to ensure final progress updates are written"
        time.sleep(0.1)
        # 6: completeJob
        result = {"success": True,
                  "data": {"test_data": None, "mock_url": "mock://" + jid,
                           "processing_time_ms": int((time.monotonic() - t0) * 1000)},
                  "processing_time_ms": int((time.monotonic() - t0) * 1000)}
        h = self.cmd("HGETALL", "job:" + jid)
        if isinstance(h, list):
            h = dict(zip(h[::2], h[1::2]))
        now = iso()
        attempt = int(h.get("retry_count") or 0) + 1
        self.cmd("SET", "worker:completion:step-id:%s:attempt:%d" % (jid, attempt), j({
            "job_id": jid, "worker_id": self.wid, "status": "completed", "completed_at": now,
            "result": j(result), "raw_service_output": j(result["data"]),
            "raw_service_request": h.get("payload", ""), "retry_count": attempt - 1,
            "workflow_id": h.get("workflow_id", ""), "current_step": h.get("current_step", ""),
            "total_steps": h.get("total_steps", ""), "machine_id": MACHINE,
            "worker_version": VERSION, "attestation_created_at": now}))
        self.cmd("HMSET", "job:" + jid, "status", "completed", "completed_at", now)
        self.cmd("HDEL", "jobs:active:" + self.wid, jid)
        self.cmd("HSET", "jobs:completed", jid,
                 j({"success": True, "data": result, "completed_at": now}))
        self.cmd("EXPIRE", "jobs:completed", 86400)
        self.cmd("PUBLISH", "complete_job", j({
            "job_id": jid, "worker_id": self.wid, "progress": 100, "status": "completed",
            "message": "Job completed successfully", "result": result, "timestamp": ms()}))
        self.cmd("HMSET", "worker:" + self.wid, "status", "idle", "last_status_change", iso(),
                 "current_job_id", "")
        self.cmd("PUBLISH", "worker_status", j({"worker_id": self.wid, "old_status": "busy",
                                                "new_status": "idle", "current_job_id": "",
                                                "timestamp": ms()}))
        self.cmd("PUBLISH", self.machine_chan, self.machine_event("idle", None))
        self.jobs += 1

    def loop(self, seconds=None, max_jobs=None):
        """The TS poll timer: a tick every poll interval (setTimeout after the FCALL returns);
        a tick that finds the worker busy is skipped."""
        stop = [False]

        def on_term(*_):
            stop[0] = True
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        t_end = time.monotonic() + seconds if seconds else None
        next_hb = time.monotonic()
        next_tick = time.monotonic()
        while not stop[0]:
            now = time.monotonic()
            if t_end and now >= t_end:
                break
            if max_jobs is not None and self.jobs >= max_jobs:
                break
            if now >= next_hb:
                self.heartbeat()
                next_hb = now + 30
            if now < next_tick:
                time.sleep(min(next_tick - now, 0.05))
                continue
            claim = self.poll()
            next_tick = time.monotonic() + self.poll_s
            if claim:
                self.run_job(claim)
                now = time.monotonic()
                while next_tick <= now:  # ticks that fired while busy were skipped
                    next_tick += self.poll_s


def cmd_worker(a):
    w = RefWorker(a.port, a.worker_id, a.poll_ms, a.service)
    # registration (section 4.1), so the records look like the reference's
    w.cmd("PING")
    w.cmd("HMSET", "worker:" + w.wid, "worker_id", w.wid, "machine_id", MACHINE,
          "capabilities", w.caps, "status", "idle", "connected_at", iso(), "last_heartbeat",
          iso(), "total_jobs_completed", 0, "total_jobs_failed", 0)
    w.cmd("SADD", "workers:active", w.wid)
    for name in ("ping", "hmset", "sadd"):
        w.count_other(name)
    cpu0 = time.process_time()
    t0 = time.monotonic()
    if a.ready_file:
        open(a.ready_file, "w").close()
    w.loop(a.seconds, a.jobs)
    other = sum(w.other.values())
    out = {"jobs": w.jobs, "commands": w.commands, "job_commands": w.commands - other,
           "other_commands": w.other, "polls": w.polls, "empty_polls": w.empty_polls,
           "cpu_s": time.process_time() - cpu0, "elapsed_s": time.monotonic() - t0}
    print(json.dumps(out))


def cmd_pollers(a):
    ws = [RefWorker(a.port, "%s-%03d" % (a.prefix, i), a.poll_ms, a.service)
          for i in range(a.count)]
    for w in ws:
        w.cmd("PING")  # opens the connection
    stop = [False]

    def on_term(*_):
        stop[0] = True
    signal.signal(signal.SIGTERM, on_term)
    n = len(ws)
    period = a.poll_ms / 1000.0
    t0 = time.monotonic()
    nxt = [t0 + period * i / n for i in range(n)]
    hb = [t0 + 30.0 * i / n for i in range(n)]
    t_end = t0 + a.seconds if a.seconds else None
    if a.ready_file:
        open(a.ready_file, "w").close()
    while not stop[0]:
        now = time.monotonic()
        if t_end and now >= t_end:
            break
        i = min(range(n), key=lambda k: min(nxt[k], hb[k]))
        due = min(nxt[i], hb[i])
        if due > now:
            time.sleep(min(due - now, 0.05))
            continue
        w = ws[i]
        if hb[i] <= now:
            w.heartbeat()
            hb[i] += 30.0
        if nxt[i] <= now:
            claim = w.poll()
            if claim:
                w.run_job(claim)
            nxt[i] = time.monotonic() + period
    out = {"workers": n, "polls": sum(w.polls for w in ws),
           "commands": sum(w.commands for w in ws), "jobs": sum(w.jobs for w in ws),
           "elapsed_s": time.monotonic() - t0}
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("worker")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--worker-id", default="bench-worker-mock-ref")
    a.add_argument("--poll-ms", type=int, default=1000)
    a.add_argument("--service", default="mock")
    a.add_argument("--seconds", type=float)
    a.add_argument("--jobs", type=int)
    a.add_argument("--ready-file")
    b = sub.add_parser("pollers")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--count", type=int, default=100)
    b.add_argument("--poll-ms", type=int, default=1000)
    b.add_argument("--service", default="mock")
    b.add_argument("--seconds", type=float)
    b.add_argument("--prefix", default="bench-worker-mock-refpoll")
    b.add_argument("--ready-file")
    a = p.parse_args()
    if a.cmd == "worker":
        cmd_worker(a)
    else:
        cmd_pollers(a)


if __name__ == "__main__":
    main()
