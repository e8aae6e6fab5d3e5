#!/usr/bin/python3
"""test_burst.py - a burst of jobs through 4 workers while workers are kill -9'ed at random and
restarted (a bounded number of times).

Afterwards:
  * every job ends exactly once: status completed (one complete_job, in jobs:completed) or
    failed (one job_failed with can_retry false, in jobs:failed with a reason), never both;
  * no job stayed in a jobs:active:<worker> hash (status assigned/in_progress) longer than
    heartbeat TTL + one sweep interval (+ a margin for process start-up and sampling);
  * nothing is left queued or active, every worker is idle and exits 0 on SIGTERM.

EMP_FAULTS_BURST_JOBS sets the number of jobs (default 10000); EMP_FAULTS_BURST_KILLS the
number of kill -9 (default 12); EMP_FAULTS_SEED the random seed.
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (Listener, Worker, check, job_record, main, submit_many, wait_ready,
                      wait_until)

HB_TTL_S = 1
SWEEP_MS = 300
REDIS_CONF = {'heartbeat_interval_ms': 250, 'heartbeat_ttl_s': HB_TTL_S,
              'sweep_interval_ms': SWEEP_MS, 'fallback_poll_ms': 100,
              'command_timeout_ms': 3000}
JOBS_CONF = {'retry_backoff_base_ms': 20, 'retry_backoff_max_ms': 100, 'shutdown_grace_s': 5}


class ActiveSampler(threading.Thread):
    """Samples every jobs:active:<wid> hash; records how long each (worker, job) entry lived."""

    def __init__(self, srv, wids, interval=0.05):
        super().__init__(daemon=True)
        self.r = srv.client()
        self.wids = wids
        self.interval = interval
        self.first, self.last = {}, {}
        self.samples = 0
        self._halt = False
        self.start()
        srv.ctx.track(self)

    def run(self):
        while not self._halt:
            try:
                p = self.r.pipeline(transaction=False)
                for w in self.wids:
                    p.hkeys('jobs:active:' + w)
                res = p.execute()
            except Exception:
                time.sleep(self.interval)
                continue
            now = time.monotonic()
            for w, keys in zip(self.wids, res):
                for j in keys:
                    self.first.setdefault((w, j), now)
                    self.last[(w, j)] = now
            self.samples += 1
            time.sleep(self.interval)

    def stop(self):
        self._halt = True
        self.join(3)

    def longest(self):
        best = (0.0, None)
        for k, t0 in self.first.items():
            d = self.last[k] - t0
            if d > best[0]:
                best = (d, k)
        return best


def test_burst_kill9(ctx):
    njobs = int(os.environ.get('EMP_FAULTS_BURST_JOBS', '10000'))
    nkills = int(os.environ.get('EMP_FAULTS_BURST_KILLS', '12'))
    seed = int(os.environ.get('EMP_FAULTS_SEED', str(int(time.time()))))
    rnd = random.Random(seed)
    ctx.note('seed %d, %d jobs, %d kill -9', seed, njobs, nkills)
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, ('complete_job', 'job_failed'))
    wids = ['burst-w%d' % i for i in range(4)]
    workers = [Worker(ctx, wid, redis_conf=REDIS_CONF, jobs_conf=JOBS_CONF).start()
               for wid in wids]
    for w in workers:
        wait_ready(r, w)
    sampler = ActiveSampler(srv, wids)

    # the jobs: mostly instant, some slower, some failing (retryable, spent after 3 attempts)
    # and some failing permanently
    records, kinds = [], {}
    for i in range(njobs):
        x = rnd.random()
        if x < 0.02:
            payload, kind = {'delay_ms': 0, 'should_fail': True}, 'retry_fail'
        elif x < 0.03:
            payload, kind = {'delay_ms': 0, 'fail_permanently': True}, 'perm_fail'
        elif x < 0.08:
            payload, kind = {'delay_ms': 40, 'test_data': i}, 'slow'
        else:
            payload, kind = {'delay_ms': 0, 'test_data': i}, 'ok'
        rec = job_record(payload=payload)
        kinds[rec[0]] = kind
        records.append(rec)
    ids = [rec[0] for rec in records]
    t0 = time.monotonic()
    submitter = threading.Thread(target=submit_many, args=(r, records), daemon=True)
    submitter.start()

    def outcomes():
        done = set()
        for ch in ('complete_job', 'job_failed'):
            for _, _, d in lst.all(ch):
                done.add(json.loads(d)['job_id'])
        return done

    kills, restarts = 0, 0
    pending_restart = []  # (time, worker)
    next_kill = time.monotonic() + rnd.uniform(0.2, 0.8)
    deadline = time.monotonic() + 600
    while True:
        now = time.monotonic()
        ndone = len(outcomes())
        if ndone >= njobs and not pending_restart:
            break
        if now > deadline:
            raise AssertionError('burst did not finish: %d of %d jobs ended' % (ndone, njobs))
        for item in list(pending_restart):
            if now >= item[0]:
                item[1].start()
                restarts += 1
                pending_restart.remove(item)
        alive = [w for w in workers if w.alive() and w not in [p[1] for p in pending_restart]]
        if kills < nkills and now >= next_kill and ndone < njobs * 0.95 and len(alive) >= 3:
            victim = rnd.choice(alive)
            victim.kill9()
            kills += 1
            # half restart at once (the new process requeues its own leftovers), half only
            # after the others' sweep had time to recover its job
            delay = 0 if rnd.random() < 0.5 else HB_TTL_S + 2 * SWEEP_MS / 1000.0
            pending_restart.append((now + delay, victim))
            next_kill = now + rnd.uniform(0.3, 1.2)
        time.sleep(0.02)
    elapsed = time.monotonic() - t0
    submitter.join()
    for w in workers:
        wait_ready(r, w)
    wait_until(lambda: all(r.hget('worker:' + w.worker_id, 'status') == 'idle' for w in workers),
               10, 'every worker idle')
    sampler.stop()

    # ---- exactly once ----
    counts = {}
    for ch in ('complete_job', 'job_failed'):
        for _, _, d in lst.all(ch):
            j = json.loads(d)
            counts.setdefault(j['job_id'], []).append(ch)
            if ch == 'job_failed':
                check(j.get('can_retry') is False, 'job_failed is final: %r' % j)
    dup = {k: v for k, v in counts.items() if len(v) != 1}
    check(not dup, '%d job(s) with more than one outcome, e.g. %r' % (len(dup),
                                                                     list(dup.items())[:3]))
    missing = [j for j in ids if j not in counts]
    check(not missing, '%d job(s) without an outcome, e.g. %r' % (len(missing), missing[:3]))
    statuses = {}
    p = r.pipeline(transaction=False)
    for j in ids:
        p.hget('job:' + j, 'status')
    for j, st in zip(ids, p.execute()):
        statuses[j] = st
    completed = set(r.hkeys('jobs:completed'))
    failed = {k: json.loads(v) for k, v in r.hgetall('jobs:failed').items()}
    n_ok = n_fail = 0
    reasons = {}
    for j in ids:
        st, ch = statuses[j], counts[j][0]
        if ch == 'complete_job':
            check(st == 'completed' and j in completed and j not in failed,
                  'job %s completed consistently (status %r)' % (j, st))
            check(kinds[j] in ('ok', 'slow'), 'job %s (%s) completed' % (j, kinds[j]))
            n_ok += 1
        else:
            check(st == 'failed' and j in failed and j not in completed,
                  'job %s failed consistently (status %r)' % (j, st))
            reason = failed[j].get('error')
            check(reason, 'job %s failed with a reason' % j)
            reasons[reason.split(':')[0]] = reasons.get(reason.split(':')[0], 0) + 1
            n_fail += 1
    for k in ('jobs:pending', 'jobs:retry_delayed'):
        check(r.zcard(k) == 0, '%s is empty (%d left)' % (k, r.zcard(k)))
    for w in wids:
        check(r.hlen('jobs:active:' + w) == 0, 'jobs:active:%s is empty' % w)
    expected_fail = sum(1 for j in ids if kinds[j] in ('retry_fail', 'perm_fail'))
    check(n_fail >= expected_fail, 'every failing job failed (%d of %d)' % (n_fail, expected_fail))
    longest, key = sampler.longest()
    limit = HB_TTL_S + SWEEP_MS / 1000.0 + 1.5  # + start-up of a restarted worker and sampling
    ctx.note('%d jobs in %.1f s (%.0f jobs/s): %d completed, %d failed %r; %d kill -9, '
             '%d restarts; longest stay in jobs:active %.2f s (%r; limit %.2f s, %d samples)',
             njobs, elapsed, njobs / elapsed, n_ok, n_fail, reasons, kills, restarts, longest,
             key, limit, sampler.samples)
    check(longest <= limit, 'a job stayed assigned/in_progress %.2f s > %.2f s (%r)'
          % (longest, limit, key))
    for w in workers:
        w.stop_clean()
    ctx.note('jobs lost: 0; duplicated outcomes: 0')


TESTS = {'burst_kill9': test_burst_kill9}

if __name__ == '__main__':
    sys.exit(main(TESTS))
