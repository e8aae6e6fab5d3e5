#!/usr/bin/python3
"""test_redis_faults.py - redis-server paused or unreachable past the worker's command timeout,
and SIGTERM at every step of a job, with real processes on 127.0.0.1.

Every test ends with the same invariant: each job has exactly one outcome (one complete_job or
one permanent job_failed message, status completed/failed, never both), nothing is left in
jobs:active:*, and every worker still running is idle.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (Listener, TestFailure, Worker, check, conn_ports, failure_reason, job_record, main,
                      rx_pending, submit, wait_ready, wait_status, wait_until)

OUTCOME_CHANNELS = ('complete_job', 'job_failed', 'update_job_progress')


def assert_exactly_once(ctx, r, lst, job_ids, workers=(), expect='completed'):
    """Each job: final status `expect` (or either), one outcome message, no active leftovers."""
    for jid in job_ids:
        st = r.hget('job:' + jid, 'status')
        if expect:
            check(st == expect, 'job %s ends %s, not %r (reason %r)'
                  % (jid, expect, st, failure_reason(r, jid)))
        check(st in ('completed', 'failed'), 'job %s ended (%r)' % (jid, st))
        # the outcome message is published with the status; the subscriber may lag a little
        wait_until(lambda: lst.count('complete_job', jid) + lst.count('job_failed', jid), 5,
                   'the outcome message of job %s' % jid)
        c = lst.count('complete_job', jid)
        f = len(lst.json('job_failed', lambda j: j.get('job_id') == jid))
        in_c = r.hexists('jobs:completed', jid)
        in_f = r.hexists('jobs:failed', jid)
        if st == 'completed':
            check(c == 1 and f == 0 and in_c and not in_f,
                  'job %s completed exactly once (complete_job x%d, job_failed x%d, '
                  'jobs:completed %s, jobs:failed %s)' % (jid, c, f, in_c, in_f))
        else:
            check(f == 1 and c == 0 and in_f and not in_c,
                  'job %s failed exactly once (job_failed x%d, complete_job x%d)' % (jid, f, c))
            check(failure_reason(r, jid), 'job %s has a failure reason' % jid)
        check(r.zscore('jobs:pending', jid) is None and r.zscore('jobs:retry_delayed', jid) is None,
              'job %s is no longer queued' % jid)
    for k in r.scan_iter('jobs:active:*'):
        check(r.hlen(k) == 0, '%s is empty (has %r)' % (k, r.hkeys(k)))
    for w in workers:
        if w.alive():
            wait_until(lambda: r.hget('worker:' + w.worker_id, 'status') == 'idle', 10,
                       'worker %s idle' % w.worker_id)


def wait_progress(lst, jid, pct, timeout=30):
    return wait_until(lambda: lst.json('update_job_progress',
                                       lambda j: j.get('job_id') == jid
                                       and j.get('progress', 0) >= pct),
                      timeout, 'progress >= %d for job %s' % (pct, jid))


def in_flight(ctx, w, timeout=10):
    """Wait until worker w has a command sitting unread in redis-server's receive queue.
    Returns the local ports of w's connections at that moment."""
    wait_until(lambda: rx_pending(w.pid, ctx.redis.port) > 0, timeout,
               'a command from %s in flight to the paused server' % w.worker_id, interval=0.002)
    return conn_ports(w.pid, ctx.redis.port)


def dropped(ctx, w, ports, timeout=10):
    """Wait until worker w has closed the connections it had (its command timed out)."""
    wait_until(lambda: not (conn_ports(w.pid, ctx.redis.port) & ports), timeout,
               'worker %s drops its connections to the unresponsive server' % w.worker_id,
               interval=0.005)


# ------------------------------------------------------------------------------------------------
# redis-server paused mid-job
# ------------------------------------------------------------------------------------------------

FAST_TIMEOUT = {'command_timeout_ms': 150, 'connect_timeout_ms': 150, 'heartbeat_interval_ms': 100,
                'heartbeat_ttl_s': 5, 'sweep_interval_ms': 300}


def _pause_mid_job(ctx, how):
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, OUTCOME_CHANNELS)
    w = wait_ready(r, Worker(ctx, 'pause-w1', redis_conf=FAST_TIMEOUT).start())
    w2 = wait_ready(r, Worker(ctx, 'pause-w2', redis_conf=FAST_TIMEOUT).start())
    jid = submit(r, payload={'delay_ms': 1500, 'test_data': {'n': 1}})
    wait_progress(lst, jid, 10)
    owner = r.hget('job:' + jid, 'worker_id')
    ow = w if owner == w.worker_id else w2
    before = ow.log().count('connected to Redis again')
    if how == 'debug_sleep':
        # the server blocks for 1.2 s: far past the 150 ms command timeout, under the 5 s TTL
        sock = srv.send_raw(('DEBUG', 'SLEEP', '1.5'))
        ports = in_flight(ctx, ow)
        dropped(ctx, ow, ports)
        sock.recv(100)  # +OK when the sleep is over
        sock.close()
    else:
        srv.sigstop()
        try:
            dropped(ctx, ow, in_flight(ctx, ow))
            ow.wait_log(r'retrying in', 10, 'worker fails to reconnect to the stopped server')
        finally:
            srv.sigcont()
    ow.wait_log(r'connected to Redis again', 20, 'worker reconnects', count=before + 1)
    wait_status(r, jid, 'completed', 30)
    assert_exactly_once(ctx, r, lst, [jid], [w, w2])
    ctx.note('job owner %s reconnected; job completed exactly once', ow.worker_id)
    # the worker takes new jobs afterwards
    j2 = submit(r, payload={'delay_ms': 10})
    wait_status(r, j2, 'completed', 20)
    assert_exactly_once(ctx, r, lst, [jid, j2], [w, w2])
    w.stop_clean()
    w2.stop_clean()


def test_redis_debug_sleep_mid_job(ctx):
    _pause_mid_job(ctx, 'debug_sleep')


def test_redis_sigstop_mid_job(ctx):
    _pause_mid_job(ctx, 'sigstop')


def test_redis_pause_past_heartbeat_ttl(ctx):
    """redis-server stopped longer than the heartbeat TTL while a job runs: when it resumes,
    the owner's heartbeat key has expired, so another worker's sweep may requeue the job while
    its owner still runs it. Whoever wins, the job ends exactly once and nobody stays busy."""
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, OUTCOME_CHANNELS)
    conf = dict(FAST_TIMEOUT, heartbeat_ttl_s=1, heartbeat_interval_ms=300, sweep_interval_ms=200)
    ws = [wait_ready(r, Worker(ctx, 'ttl-w%d' % i, redis_conf=conf).start()) for i in range(2)]
    jid = submit(r, payload={'delay_ms': 2500})
    wait_progress(lst, jid, 10)
    owner = r.hget('job:' + jid, 'worker_id')
    ow = [w for w in ws if w.worker_id == owner][0]
    srv.sigstop()
    try:
        dropped(ctx, ow, in_flight(ctx, ow))
        ow.wait_log(r'retrying in', 10)
        ow.wait_log(r'retrying in', 10, count=2)  # well past the 1 s TTL
    finally:
        srv.sigcont()
    wait_status(r, jid, 'completed', 30)
    wait_until(lambda: all(r.hget('worker:' + w.worker_id, 'status') == 'idle' for w in ws),
               15, 'both workers idle')
    assert_exactly_once(ctx, r, lst, [jid], ws)
    ctx.note('retry_count %s; completed by %s (owner before the pause: %s)',
             r.hget('job:' + jid, 'retry_count'), r.hget('job:' + jid, 'worker_id'), owner)
    for w in ws:
        w.stop_clean()


def test_redis_pause_completion_in_flight(ctx):
    """The completion script is sent, the server is paused before answering: the worker times
    out, keeps the outcome, and resends it after reconnecting; the server ran the first one
    already, so the second is fenced out. One complete_job."""
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, OUTCOME_CHANNELS)
    w = wait_ready(r, Worker(ctx, 'cpause-w1', redis_conf=FAST_TIMEOUT).start())
    jid = submit(r, payload={'delay_ms': 600})
    wait_progress(lst, jid, 80)
    srv.sigstop()
    try:
        dropped(ctx, w, in_flight(ctx, w, timeout=20))  # the completion (or a heartbeat)
    finally:
        srv.sigcont()
    wait_status(r, jid, 'completed', 20)
    w.wait_log(r'connected to Redis again', 20)
    wait_until(lambda: r.hget('worker:' + w.worker_id, 'status') == 'idle', 10, 'worker idle')
    assert_exactly_once(ctx, r, lst, [jid], [w])
    w.stop_clean()


def test_redis_pause_during_claim(ctx):
    """The server is paused while the worker's FCALL findMatchingJob is in flight: the worker
    times out and reconnects, but the server still runs the claim when it wakes up, so the job
    is `assigned` to a live worker that never saw the reply. It must not stay there (it is
    requeued when the worker reconnects; before that fix it stayed assigned for good)."""
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, OUTCOME_CHANNELS)
    # polls every 20 ms; heartbeats and sweeps rare, so the command in flight is the FCALL
    conf = dict(FAST_TIMEOUT, fallback_poll_ms=20, heartbeat_interval_ms=2000,
                sweep_interval_ms=5000)
    w = wait_ready(r, Worker(ctx, 'claim-w1', redis_conf=conf).start())
    fcalls = lambda: r.info('commandstats').get('cmdstat_fcall', {}).get('calls', 0)
    n0 = fcalls()
    wait_until(lambda: fcalls() >= n0 + 3, 10, 'the worker polls')
    jobs = []
    for attempt in range(5):
        jid, h, score, _ = job_record(payload={'delay_ms': 10})
        jobs.append(jid)
        # one write: the job appears and the server falls asleep in the same event-loop turn,
        # so the worker's next poll is stuck in flight
        sock = srv.send_raw(('HSET', 'job:' + jid) + tuple(x for kv in h.items() for x in kv),
                            ('ZADD', 'jobs:pending', repr(score), jid),
                            ('DEBUG', 'SLEEP', '0.8'))
        dropped(ctx, w, in_flight(ctx, w))
        sock.recv(100)  # +OK: the sleep is over
        sock.close()
        # the old connection's commands ran first: was the claim one of them?
        st = r.hget('job:' + jid, 'status')
        ctx.note('attempt %d: right after the pause the job is %s', attempt + 1, st)
        wait_status(r, jid, ('completed', 'failed'), 8,
                    'job %s claimed during the pause ends (it stays %s)'
                    % (jid, r.hget('job:' + jid, 'status')))
        if st == 'assigned':
            break
        w.wait_log(r'connected to Redis again', 10, count=attempt + 1)
    else:
        raise TestFailure('the claim was never in flight during the pause (5 attempts)')
    assert_exactly_once(ctx, r, lst, jobs, [w])
    check('claim whose reply was lost' in w.log(), 'the worker requeued the orphaned claim')
    w.stop_clean()


# ------------------------------------------------------------------------------------------------
# SIGTERM at each step
# ------------------------------------------------------------------------------------------------

def test_sigterm_during_claim(ctx):
    """SIGTERM arrives while the claim is in flight (server paused with DEBUG SLEEP): the worker
    gets the job, and either finishes it within the grace period or requeues it; a second
    worker takes over. Exactly one outcome; the stopped worker exits 0 and deregisters."""
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, OUTCOME_CHANNELS)
    conf = {'fallback_poll_ms': 20, 'command_timeout_ms': 5000}
    w = wait_ready(r, Worker(ctx, 'term-claim-w1', redis_conf=conf,
                             jobs_conf={'shutdown_grace_s': 0}).start())
    jid, h, score, _ = job_record(payload={'delay_ms': 2000})
    sock = srv.send_raw(('HSET', 'job:' + jid) + tuple(x for kv in h.items() for x in kv),
                        ('ZADD', 'jobs:pending', repr(score), jid), ('DEBUG', 'SLEEP', '0.5'))
    in_flight(ctx, w)
    w.signal(signal.SIGTERM)
    sock.close()
    rc = w.wait_exit(30)
    check(rc == 0, 'worker exited 0 (got %r)' % rc)
    check(w.sanitizer_report() is None, 'no sanitizer report')
    st = r.hget('job:' + jid, 'status')
    ctx.note('after the stop the job is %s (retry_count %s)', st, r.hget('job:' + jid,
                                                                          'retry_count'))
    check(st in ('pending', 'completed'), 'job requeued or done, not %r' % st)
    check(not r.exists('worker:%s:heartbeat' % w.worker_id), 'worker deregistered')
    w2 = wait_ready(r, Worker(ctx, 'term-claim-w2').start())
    wait_status(r, jid, 'completed', 30)
    assert_exactly_once(ctx, r, lst, [jid], [w2])
    w2.stop_clean()


def test_sigterm_during_progress(ctx):
    """SIGTERM after the first progress message; the job (2 s) outlasts the 0 s grace: it is
    cancelled, requeued at once (no backoff, no job_failed) and finished by another worker."""
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, OUTCOME_CHANNELS)
    w = wait_ready(r, Worker(ctx, 'term-prog-w1', jobs_conf={'shutdown_grace_s': 0}).start())
    jid = submit(r, payload={'delay_ms': 2000})
    wait_progress(lst, jid, 10)
    check(r.hget('job:' + jid, 'status') == 'in_progress', 'job in_progress')
    w.signal(signal.SIGTERM)
    rc = w.wait_exit(30)
    check(rc == 0, 'worker exited 0 (got %r)' % rc)
    check(w.sanitizer_report() is None, 'no sanitizer report')
    check(r.hget('job:' + jid, 'status') == 'pending', 'job requeued')
    check(r.zscore('jobs:pending', jid) is not None, 'job back in jobs:pending at once')
    check(not lst.json('job_failed'), 'no job_failed for a shutdown requeue')
    w2 = wait_ready(r, Worker(ctx, 'term-prog-w2').start())
    wait_status(r, jid, 'completed', 30)
    assert_exactly_once(ctx, r, lst, [jid], [w2])
    w2.stop_clean()


def test_sigterm_grace_lets_job_finish(ctx):
    """SIGTERM during progress with a grace period longer than the job: the job completes on
    the stopping worker, then it exits 0."""
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, OUTCOME_CHANNELS)
    w = wait_ready(r, Worker(ctx, 'term-grace-w1', jobs_conf={'shutdown_grace_s': 20}).start())
    jid = submit(r, payload={'delay_ms': 800})
    wait_progress(lst, jid, 10)
    w.signal(signal.SIGTERM)
    rc = w.wait_exit(30)
    check(rc == 0, 'worker exited 0 (got %r)' % rc)
    assert_exactly_once(ctx, r, lst, [jid])
    check(r.hget('job:' + jid, 'worker_id') == w.worker_id, 'finished by the stopping worker')
    check(w.sanitizer_report() is None, 'no sanitizer report')


def test_sigterm_during_completion(ctx):
    """SIGTERM while the completion script is in flight (server paused): the completion lands
    once, the worker exits 0 and deregisters."""
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, OUTCOME_CHANNELS)
    w = wait_ready(r, Worker(ctx, 'term-done-w1',
                             redis_conf={'command_timeout_ms': 5000,
                                         'heartbeat_interval_ms': 1500, 'heartbeat_ttl_s': 5,
                                         'sweep_interval_ms': 5000}).start())
    jid = submit(r, payload={'delay_ms': 300})
    wait_progress(lst, jid, 80)
    # pause the server right away: the completion follows ~90 ms after the 80% message
    sock = srv.send_raw(('DEBUG', 'SLEEP', '0.7'))
    in_flight(ctx, w)
    w.signal(signal.SIGTERM)
    sock.close()
    rc = w.wait_exit(30)
    check(rc == 0, 'worker exited 0 (got %r)' % rc)
    check(w.sanitizer_report() is None, 'no sanitizer report')
    assert_exactly_once(ctx, r, lst, [jid])
    check(not r.exists('worker:' + w.worker_id), 'worker hash removed at shutdown')
    check(not r.sismember('workers:active', w.worker_id), 'worker left workers:active')


def test_sigterm_while_redis_down(ctx):
    """SIGTERM while Redis is stopped and a job is running: the job's requeue cannot be written;
    the worker keeps the outcome, writes it when Redis comes back, and then exits 0."""
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, OUTCOME_CHANNELS)
    w = wait_ready(r, Worker(ctx, 'term-down-w1', redis_conf=FAST_TIMEOUT,
                             jobs_conf={'shutdown_grace_s': 0}).start())
    jid = submit(r, payload={'delay_ms': 3000})
    wait_progress(lst, jid, 10)
    srv.sigstop()
    try:
        dropped(ctx, w, in_flight(ctx, w))
        w.signal(signal.SIGTERM)
        w.wait_log(r'cancelling job', 10, 'the job is cancelled at once (grace 0 s)')
    finally:
        srv.sigcont()
    rc = w.wait_exit(30)
    check(rc == 0, 'worker exited 0 (got %r)' % rc)
    check(r.hget('job:' + jid, 'status') == 'pending', 'job requeued after Redis came back')
    w2 = wait_ready(r, Worker(ctx, 'term-down-w2').start())
    wait_status(r, jid, 'completed', 30)
    assert_exactly_once(ctx, r, lst, [jid], [w2])
    w2.stop_clean()


TESTS = {
    'redis_debug_sleep_mid_job': test_redis_debug_sleep_mid_job,
    'redis_sigstop_mid_job': test_redis_sigstop_mid_job,
    'redis_pause_past_heartbeat_ttl': test_redis_pause_past_heartbeat_ttl,
    'redis_pause_completion_in_flight': test_redis_pause_completion_in_flight,
    'redis_pause_during_claim': test_redis_pause_during_claim,
    'sigterm_during_claim': test_sigterm_during_claim,
    'sigterm_during_progress': test_sigterm_during_progress,
    'sigterm_grace_lets_job_finish': test_sigterm_grace_lets_job_finish,
    'sigterm_during_completion': test_sigterm_during_completion,
    'sigterm_while_redis_down': test_sigterm_while_redis_down,
}

if __name__ == '__main__':
    sys.exit(main(TESTS))
