#!/usr/bin/python3
"""emp-worker against a real redis-server: the integration tests of issue 3.

Usage: test_redis.py --worker PATH/emp-worker --plugins BUILD/plugins [--only NAME ...] [--keep]

Every scenario gets its own redis-server (127.0.0.1, free port, temp dir) and its own worker
processes (generated worker.conf + conf.d/mock.conf), and never sleeps a fixed amount: it polls
conditions with deadlines. Prints "PASS name (seconds)" or "FAIL name" with the reason, the
worker logs and the Redis log; exits 1 on any failure. Scenario names: see SCENARIOS at the end.
"""

import argparse
import collections
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import empq  # noqa: E402
from empq import (ISO_RE, SEC_MICRO_RE, Listener, RedisServer, TestFailure, Worker,  # noqa: E402
                  attest_key, check, commandstats, iso_to_ms, settled_commandstats, stats_delta,
                  submit_job, wait_registered, wait_until)

MID = 'testmachine'


class Ctx:
    """What one scenario owns: a temp dir, a redis-server, workers, listeners."""

    def __init__(self, args, name):
        self.name = name
        self.tmpdir = tempfile.mkdtemp(prefix='emp-redis-%s-' % name)
        self.worker_bin = args.worker
        self.plugin_dir = args.plugins
        self.keep = args.keep
        self.redis = None
        self.r = None
        self.workers = []
        self.listeners = []
        self.notes = []

    def start_redis(self, **kw):
        self.redis = RedisServer(self.tmpdir, **kw).start()
        self.r = self.redis.client()
        return self.r

    def worker(self, wid, **kw):
        return Worker(self, wid, machine_id=kw.pop('machine_id', MID), **kw)

    def track(self, w):
        if w not in self.workers:
            self.workers.append(w)
            w.expect_killed = False

    def listen(self, channels=(), patterns=()):
        lst = Listener(self.redis, channels, patterns)
        self.listeners.append(lst)
        return lst

    def note(self, text):
        self.notes.append(text)
        print('  ' + text, flush=True)

    def cleanup(self):
        """Stop everything by PID; return the problems found (exit codes, sanitizer reports)."""
        problems = []
        for lst in self.listeners:
            lst.close()
        for w in self.workers:
            if w.proc is None:
                continue
            running = w.alive()
            rc = w.stop()
            if w.expect_killed:
                continue
            if running and rc != 0:
                problems.append('worker %s exited with %s after SIGTERM' % (w.worker_id, rc))
            elif not running and rc not in (0, None):
                problems.append('worker %s had exited by itself with %s' % (w.worker_id, rc))
        for w in self.workers:
            rep = w.sanitizer_report()
            if rep:
                problems.append('worker %s: sanitizer report (%s)' % (w.worker_id, rep))
        if self.redis:
            self.redis.stop()
        return problems

    def dump_logs(self):
        many = len(self.workers) > 6
        for w in self.workers:
            text = w.log()
            lines = text.splitlines()
            if many and not any(k in text for k in ('ERROR', 'WARN', 'Sanitizer', 'runtime error')):
                continue
            keep = lines[-(25 if many else 150):]
            print('----- log of worker %s (pid %s, last %d of %d lines) -----' %
                  (w.worker_id, w.proc.pid if w.proc else '-', len(keep), len(lines)))
            print('\n'.join(keep))
        if self.redis and os.path.exists(self.redis.log):
            with open(self.redis.log, errors='replace') as f:
                lines = f.read().splitlines()
            print('----- redis-server log (last 30 lines) -----')
            print('\n'.join(lines[-30:]))

    def remove(self):
        if not self.keep:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# shape checks
# ------------------------------------------------------------------------------------------------

def is_ms(v):
    return isinstance(v, int) and not isinstance(v, bool) and 10 ** 12 < v < 10 ** 13 * 2


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def shape(msg, spec, what):
    """spec: {key: type | callable | constant}; keys must be present; no extra keys allowed
    unless spec has '...'. A type checks isinstance, a callable is a predicate, anything else
    must be equal."""
    for k, want in spec.items():
        if k == '...':
            continue
        check(k in msg, '%s: field %r missing in %s' % (what, k, json.dumps(msg)[:400]))
        v = msg[k]
        if isinstance(want, type):
            ok = isinstance(v, want) and not (want is int and isinstance(v, bool))
        elif callable(want):
            ok = want(v)
        else:
            ok = v == want
        check(ok, '%s: field %r = %r does not match %r' % (what, k, v, getattr(want, '__name__', want)))
    if '...' not in spec:
        extra = set(msg) - set(spec)
        check(not extra, '%s: unexpected fields %s in %s' % (what, sorted(extra), json.dumps(msg)[:400]))


def iso(v):
    return isinstance(v, str) and bool(ISO_RE.match(v))


def sec_micro(v):
    return isinstance(v, str) and bool(SEC_MICRO_RE.match(v))


def job(r, jid):
    return r.hgetall('job:' + jid)


def wait_status(r, jid, status, timeout, what=None):
    return wait_until(lambda: r.hget('job:' + jid, 'status') == status, timeout,
                      what or 'job %s status %s (now %r)' % (jid, status, r.hget('job:' + jid, 'status')))


def wait_running(r, jid, wid, timeout=10):
    wait_until(lambda: r.hmget('job:' + jid, 'status', 'worker_id') == ['in_progress', wid], timeout,
               'job %s in_progress on %s (now %r)' % (jid, wid, r.hmget('job:' + jid, 'status', 'worker_id')))


# ------------------------------------------------------------------------------------------------
# 1. keys, fields and messages of sections 4-5
# ------------------------------------------------------------------------------------------------

ALL_CHANNELS = ['update_job_progress', 'complete_job', 'job_failed', 'worker_status', 'worker:events',
                'job_claimed', 'machine:startup:events']


def check_registration(ctx, lst, wid):
    r = ctx.r
    h = r.hgetall('worker:' + wid)
    for k in ('worker_id', 'machine_id', 'capabilities', 'status', 'connected_at', 'last_heartbeat',
              'total_jobs_completed', 'total_jobs_failed'):
        check(k in h, 'worker:%s has %s (has %s)' % (wid, k, sorted(h)))
    check(h['worker_id'] == wid and h['machine_id'] == MID, 'worker ids in worker:%s' % wid)
    check(h['status'] == 'idle', 'worker:%s status idle' % wid)
    check(iso(h['connected_at']) and iso(h['last_heartbeat']), 'worker:%s ISO timestamps' % wid)
    check(h['total_jobs_completed'] == '0' and h['total_jobs_failed'] == '0', 'counters start at 0')
    caps = json.loads(h['capabilities'])
    shape(caps, {'worker_id': wid, 'machine_id': MID, 'services': list, 'job_service_required_map': list,
                 'hardware': dict, 'models': dict, 'customer_access': dict, 'performance': dict,
                 'metadata': dict, '...': 1}, 'worker:%s capabilities' % wid)
    check(r.sismember('workers:active', wid), '%s in workers:active' % wid)
    ttl = r.ttl('worker:%s:heartbeat' % wid)
    check(0 < ttl <= 2, 'heartbeat TTL in (0, heartbeat_ttl_s=2]: %r' % ttl)
    check(iso(r.get('worker:%s:heartbeat' % wid)), 'heartbeat value is ISO')
    # the registration advertises the connector's services (as the reference does, 4.1)
    wait_until(lambda: json.loads(r.hget('worker:' + wid, 'capabilities'))['services'] == ['mock'],
               5, 'worker:%s capabilities.services == ["mock"] (now %s)' %
               (wid, json.loads(r.hget('worker:' + wid, 'capabilities')).get('services')))

    ev = lst.wait('worker:events', lambda m: m.get('worker_id') == wid, 5, 'worker_connected')[0]
    shape(ev, {'type': 'worker_connected', 'worker_id': wid, 'machine_id': MID, 'worker_data': dict,
               'timestamp': is_ms}, 'worker:events worker_connected')
    wd = ev['worker_data']
    shape(wd, {'id': wid, 'status': 'idle', 'capabilities': dict, 'connected_at': iso,
               'jobs_completed': 0, 'jobs_failed': 0}, 'worker_connected.worker_data')
    shape(wd['capabilities'], {'gpu_count': 1, 'gpu_memory_gb': is_num, 'gpu_model': str, 'cpu_cores': 1,
                               'ram_gb': is_num, 'services': list, 'models': list,
                               'customer_access': str, 'max_concurrent_jobs': 1},
          'worker_connected.worker_data.capabilities')
    st = lst.wait('worker_status:' + wid, None, 5, 'worker_status:<wid>')[0]
    shape(st, {'worker_id': wid, 'machine_id': MID, 'status': 'idle', 'capabilities': dict,
               'timestamp': iso, 'last_heartbeat': is_ms, 'connected_at': iso}, 'worker_status:<wid>')
    shape(st['capabilities'], {'services': list, 'hardware': dict, 'performance': dict,
                               'customer_access': dict, 'models': dict}, 'worker_status:<wid>.capabilities')
    check_machine_event(lst, wid, 'idle', None)


def check_machine_event(lst, wid, status, job_id, timeout=5):
    chan = 'machine:%s:worker:%s' % (MID, wid)
    m = lst.wait(chan, lambda m: m.get('data', {}).get('status') == status and
                 m['data'].get('current_job_id') == job_id, timeout,
                 '%s %s event (job %s)' % (chan, status, job_id))[0]
    shape(m, {'worker_id': wid, 'event_type': 'worker_status_changed', 'data': dict, 'timestamp': is_ms}, chan)
    shape(m['data'], {'status': status, 'is_connected': True, 'current_job_id': job_id,
                      'last_activity': is_ms, 'version': str, 'build_timestamp': str,
                      'build_info': 'status-events-v2', 'capabilities': list}, chan + ' data')


def check_job_claimed(lst, jid, wid, count=1):
    msgs = lst.json('job_claimed', lambda m: m.get('job_id') == jid)
    check(len(msgs) == count, 'job_claimed for %s published %d times (want %d)' % (jid, len(msgs), count))
    for m in msgs:
        shape(m, {'job_id': jid, 'worker_id': str, 'status': 'claimed', 'message': 'Job claimed by worker',
                  'claimed_at': sec_micro, 'timestamp': is_num, 'service_required': 'mock',
                  'customer_id': str, '...': 1}, 'job_claimed')
    check(msgs[-1]['worker_id'] == wid, 'last job_claimed by %s' % wid)
    return msgs


def scenario_protocol(ctx):
    """Exact keys, fields, value formats and messages of sections 4-5 for success, retry and
    permanent failure; registration; heartbeat; unified machine status mode."""
    r = ctx.start_redis()
    lst = ctx.listen(ALL_CHANNELS, ['worker_status:*', 'machine:*'])
    wid = '%s-worker-mock-0' % MID
    w = ctx.worker(wid, jobs_conf={'retry_backoff_base_ms': 400}).start()
    wait_registered(r, [wid], 10)
    check_registration(ctx, lst, wid)
    # heartbeat: last_heartbeat and the key are rewritten every heartbeat_interval_ms
    hb0 = r.hget('worker:' + wid, 'last_heartbeat')
    wait_until(lambda: r.hget('worker:' + wid, 'last_heartbeat') != hb0, 3, 'a heartbeat')
    wait_until(lambda: r.get('worker:%s:heartbeat' % wid) == r.hget('worker:' + wid, 'last_heartbeat'), 3,
               'the heartbeat key holds the same ISO time as worker:<wid>.last_heartbeat')
    check(0 < r.ttl('worker:%s:heartbeat' % wid) <= 2, 'heartbeat TTL after refresh')

    # ---- success: a workflow step with a step- id ----
    wf = 'wf-' + uuid.uuid4().hex[:12]
    wf_dt = int(time.time() * 1000) - 5000
    step = str(uuid.uuid4())
    jid = 'step-' + step
    test_data = {'n': 7, 'text': 'héllo "quoted"', 'list': [1, 2.5, None, True]}
    submit_job(r, job_id=jid, payload={'delay_ms': 100, 'test_data': test_data},
               workflow={'workflow_id': wf, 'current_step': 2, 'total_steps': 3,
                         'workflow_priority': 60, 'workflow_datetime': wf_dt})
    wait_status(r, jid, 'completed', 10)
    lst.wait('worker_status', lambda m: m['new_status'] == 'idle' and m['old_status'] == 'busy', 5,
             'worker_status busy->idle')
    h = job(r, jid)
    check(h['worker_id'] == wid, 'job.worker_id')
    check(sec_micro(h['assigned_at']), 'assigned_at is sec.micro: %r' % h['assigned_at'])
    check(iso(h['started_at']) and iso(h['completed_at']), 'started_at/completed_at ISO: %r %r' %
          (h['started_at'], h['completed_at']))
    a_ms = float(h['assigned_at']) * 1000
    check(a_ms - 2 <= iso_to_ms(h['started_at']) <= iso_to_ms(h['completed_at']),
          'assigned_at <= started_at <= completed_at')
    check(iso_to_ms(h['completed_at']) - iso_to_ms(h['started_at']) >= 90, 'the job ran its delay')
    check(h['retry_count'] == '0' and h['payload'] == json.dumps({'delay_ms': 100, 'test_data': test_data}),
          'submitted fields untouched')
    p = r.hgetall('job:%s:progress' % jid)
    shape(p, {'progress': '100', 'status': 'in_progress', 'message': str, 'updated_at': iso},
          'job:<id>:progress after completion')
    # jobs:completed
    val = json.loads(r.hget('jobs:completed', jid))
    shape(val, {'success': True, 'data': dict, 'completed_at': h['completed_at']}, 'jobs:completed value')
    jr = val['data']
    shape(jr, {'success': True, 'data': dict, 'processing_time_ms': is_num}, 'JobResult')
    shape(jr['data'], {'test_data': test_data, 'mock_url': 'mock://' + jid, 'processing_time_ms': is_num},
          'mock result data')
    check(0 < r.ttl('jobs:completed') <= 86400, 'jobs:completed TTL 86400')
    # attestation: step- stripped, workflow prefix, attempt = retry_count + 1
    ak = attest_key('completion', jid, ':attempt:1', wf)
    check(ak == 'worker:completion:job-id:%s:step-id:%s:attempt:1' % (wf, step), 'attestation key form')
    att = r.get(ak)
    check(att is not None, 'completion attestation %s exists (keys: %s)' % (ak, r.keys('worker:completion:*')))
    att = json.loads(att)
    shape(att, {'job_id': jid, 'worker_id': wid, 'status': 'completed', 'completed_at': iso,
                'result': str, 'retry_count': 0, 'workflow_id': wf, 'machine_id': MID,
                'worker_version': str, 'attestation_created_at': iso, '...': 1}, 'completion attestation')
    check(json.loads(att['result']) == jr, 'attestation.result is the JobResult as a JSON string')
    check(r.ttl(ak) == -1, 'attestation has no TTL (as the reference)')
    check(not r.hexists('jobs:active:' + wid, jid), 'jobs:active entry removed')
    wh = r.hgetall('worker:' + wid)
    check(wh['status'] == 'idle' and wh['current_job_id'] == '' and wh['total_jobs_completed'] == '1' and
          iso(wh['last_status_change']), 'worker hash after the job: %r' % wh)
    # messages
    check_job_claimed(lst, jid, wid)
    prog = lst.json('update_job_progress', lambda m: m.get('job_id') == jid)
    shape(prog[0], {'job_id': jid, 'worker_id': wid, 'progress': 0, 'timestamp': is_num},
          'update_job_progress from the claim')
    for m in prog[1:]:
        shape(m, {'job_id': jid, 'worker_id': wid, 'progress': is_num, 'status': 'in_progress',
                  'message': str, 'current_step': '2', 'total_steps': 3, 'estimated_completion': '',
                  'timestamp': is_ms}, 'update_job_progress')
    check([m['progress'] for m in prog] == [0, 10, 80, 100], 'progress 0,10,80,100: %r' %
          [m['progress'] for m in prog])
    busy = lst.json('worker_status', lambda m: m['new_status'] == 'busy')
    check(len(busy) == 1, 'one worker_status busy')
    shape(busy[0], {'worker_id': wid, 'old_status': 'idle', 'new_status': 'busy', 'current_job_id': jid,
                    'timestamp': is_ms}, 'worker_status busy')
    idle = lst.json('worker_status', lambda m: m['new_status'] == 'idle')
    shape(idle[0], {'worker_id': wid, 'old_status': 'busy', 'new_status': 'idle', 'current_job_id': '',
                    'timestamp': is_ms}, 'worker_status idle')
    check_machine_event(lst, wid, 'busy', jid)
    cj = lst.json('complete_job', lambda m: m.get('job_id') == jid)
    check(len(cj) == 1, 'complete_job once (got %d)' % len(cj))
    shape(cj[0], {'job_id': jid, 'worker_id': wid, 'progress': 100, 'status': 'completed',
                  'message': 'Job completed successfully', 'result': jr, 'timestamp': is_ms,
                  'workflow_id': wf, 'current_step': 2, 'total_steps': 3, 'workflow_priority': 60,
                  'workflow_datetime': wf_dt}, 'complete_job')
    # order on the wire: claim, busy, progress ..., complete_job, idle
    order = [(c, json.loads(d)) for _, c, d in lst.all() if c in ('complete_job', 'update_job_progress', 'worker_status')]
    seq = [c if c != 'worker_status' else 'ws_' + m['new_status'] for c, m in order
           if m.get('job_id', jid) == jid or c == 'worker_status']
    check(seq.index('complete_job') > max(i for i, c in enumerate(seq) if c == 'update_job_progress'),
          'complete_job after the last progress message: %s' % seq)
    check(seq.index('ws_idle') > seq.index('complete_job'), 'idle after complete_job: %s' % seq)

    # ---- retryable failure: max_retries 2 -> one retry, then permanent ----
    jr_id = submit_job(r, payload={'delay_ms': 0, 'should_fail': True}, max_retries=2)
    wait_until(lambda: r.hget('job:' + jr_id, 'retry_count') == '1', 10, 'first failure of the retry job')
    p = r.pipeline(transaction=True)  # one consistent view
    p.hgetall('job:' + jr_id)
    p.zscore('jobs:retry_delayed', jr_id)
    p.zscore('jobs:pending', jr_id)
    h, delayed, pending = p.execute()
    if h['status'] == 'pending':  # still waiting out its backoff (it may be running again already)
        shape({k: h[k] for k in ('status', 'worker_id', 'assigned_at', 'last_failed_worker')},
              {'status': 'pending', 'worker_id': '', 'assigned_at': '', 'last_failed_worker': wid},
              'job after a retryable failure')
        check(delayed is not None or pending is not None, 'a retried job waits in jobs:retry_delayed or jobs:pending')
    check(iso(h['failed_at']), 'failed_at ISO after a retryable failure')
    a1 = json.loads(r.get(attest_key('failure', jr_id, ':attempt:1')))
    shape(a1, {'attestation_type': 'failure_retry', 'job_id': jr_id, 'worker_id': wid,
               'status': 'failed_retrying', 'failed_at': iso, 'error_message': 'Mock failure requested',
               'failure_type': str, 'failure_reason': str, 'failure_description': str,
               'retry_count': 1, 'will_retry': True, 'max_retries': 2, 'workflow_id': '',
               'current_step': '', 'total_steps': '', 'workflow_impact': str, 'machine_id': MID,
               'worker_version': str, 'attestation_created_at': iso}, 'failure_retry attestation')
    wait_status(r, jr_id, 'failed', 10)
    h = job(r, jr_id)
    check(h['retry_count'] == '2' and h['last_failed_worker'] == wid and iso(h['failed_at']),
          'permanently failed retry job: %r' % h)
    fv = json.loads(r.hget('jobs:failed', jr_id))
    shape(fv, {'error': 'Mock failure requested', 'failed_at': h['failed_at'], 'retry_count': 2},
          'jobs:failed value')
    check(0 < r.ttl('jobs:failed') <= 604800, 'jobs:failed TTL 604800')
    jf = lst.wait('job_failed', lambda m: m.get('job_id') == jr_id, 5, 'job_failed of the retry job')
    time_ok = lst.json('job_failed', lambda m: m.get('job_id') == jr_id)
    check(len(time_ok) == 1, 'job_failed published once (not for the retryable attempt): %d' % len(time_ok))
    shape(jf[0], {'job_id': jr_id, 'worker_id': wid, 'status': 'failed', 'error': 'Mock failure requested',
                  'failed_at': h['failed_at'], 'retry_count': 2, 'can_retry': False, 'timestamp': is_ms},
          'job_failed')
    ap = json.loads(r.get(attest_key('failure', jr_id, ':permanent')))
    check(ap['attestation_type'] == 'failure_permanent' and ap['status'] == 'failed_permanent' and
          ap['will_retry'] is False and ap['retry_count'] == 2, 'permanent failure attestation: %r' % ap)
    check(json.loads(r.get(attest_key('completion', jr_id, ''))) == ap,
          'back-compat worker:completion:step-id:<id> holds the same record')
    check(r.get(attest_key('failure', jr_id, ':attempt:2')) is None, 'no attempt:2 retry attestation')
    check(not r.hexists('jobs:active:' + wid, jr_id), 'no jobs:active entry for the failed job')
    check_job_claimed(lst, jr_id, wid, count=2)

    # ---- permanent failure on the first attempt ----
    jp = submit_job(r, payload={'delay_ms': 0, 'fail_permanently': True})
    wait_status(r, jp, 'failed', 10)
    h = job(r, jp)
    check(h['retry_count'] == '1', 'a permanent failure counts the attempt: retry_count %r' % h['retry_count'])
    check(r.zscore('jobs:pending', jp) is None and r.zscore('jobs:retry_delayed', jp) is None,
          'a permanently failed job is not queued')
    jf = lst.wait('job_failed', lambda m: m.get('job_id') == jp, 5, 'job_failed of the permanent job')
    check(len(jf) == 1 and jf[0]['can_retry'] is False and jf[0]['retry_count'] == 1, 'job_failed: %r' % jf)
    check(r.exists(attest_key('failure', jp, ':permanent')) and r.exists(attest_key('completion', jp, '')),
          'permanent attestations')
    wait_until(lambda: r.hget('worker:' + wid, 'total_jobs_failed') == '3', 5,
               'total_jobs_failed counts the 3 failed attempts')
    check(not lst.json('complete_job', lambda m: m.get('job_id') in (jr_id, jp)), 'no complete_job for failures')

    # ---- graceful stop: 4.6 messages ----
    rc = w.stop()
    check(rc == 0, 'exit code 0 after SIGTERM (%r)' % rc)
    sd = lst.wait('machine:startup:events', lambda m: m.get('worker_id') == wid, 5, 'shutdown event')[0]
    shape(sd, {'event_type': 'shutdown', 'machine_id': MID, 'worker_id': wid, 'reason': str,
               'timestamp': is_ms}, 'machine:startup:events')
    dc = lst.wait('worker:events', lambda m: m.get('type') == 'worker_disconnected', 5, 'worker_disconnected')[0]
    shape(dc, {'type': 'worker_disconnected', 'worker_id': wid, 'machine_id': MID, 'timestamp': is_ms,
               '...': 1}, 'worker_disconnected')
    lst.wait('worker_status:' + wid, lambda m: m.get('status') == 'offline', 5, 'worker_status:<wid> offline')
    check(not r.exists('worker:' + wid) and not r.exists('worker:%s:heartbeat' % wid) and
          not r.sismember('workers:active', wid), 'deregistered')

    # ---- unified machine status mode ----
    uid = '%s-worker-mock-1' % MID
    ctx.worker(uid, env={'UNIFIED_MACHINE_STATUS': 'true'}).start()
    wait_registered(r, [uid], 10, unified=True)
    check_machine_event(lst, uid, 'idle', None)
    hb0 = r.get('worker:%s:heartbeat' % uid)
    check(iso(hb0) and 0 < r.ttl('worker:%s:heartbeat' % uid) <= 2, 'unified: heartbeat key')
    wait_until(lambda: r.get('worker:%s:heartbeat' % uid) != hb0, 3, 'unified: heartbeat refreshed')
    uh = r.hgetall('worker:' + uid)
    check(not ({'capabilities', 'connected_at', 'total_jobs_completed', 'machine_id'} & set(uh)),
          'unified: no registration HSET (worker:%s = %r)' % (uid, uh))
    check(not r.sismember('workers:active', uid), 'unified: no SADD workers:active')
    check(not lst.json('worker:events', lambda m: m.get('worker_id') == uid) and
          not lst.all('worker_status:' + uid), 'unified: no worker:events / worker_status:<wid>')
    ju = submit_job(r, payload={'delay_ms': 20})
    wait_status(r, ju, 'completed', 10)
    check(r.hget('job:' + ju, 'worker_id') == uid, 'unified worker ran the job')
    check_machine_event(lst, uid, 'busy', ju)
    lst.wait('complete_job', lambda m: m.get('job_id') == ju and m['worker_id'] == uid, 5, 'unified complete_job')
    check(len(lst.json('machine:%s:worker:%s' % (MID, uid), lambda m: m['data']['status'] == 'idle')) >= 2,
          'unified: idle machine event after the job')


# ------------------------------------------------------------------------------------------------
# 2. four workers, 2,000 jobs: exactly once
# ------------------------------------------------------------------------------------------------

def scenario_throughput(ctx):
    """4 workers, 2,000 mock jobs (delay_ms 0): each completes exactly once, none lost."""
    r = ctx.start_redis()
    lst = ctx.listen(['complete_job', 'job_claimed'])
    wids = ['tp-%d' % i for i in range(4)]
    # progress_interval_ms at its default (250): progress is coalesced, the final 100% must still land
    workers = [ctx.worker(w, redis_conf={'heartbeat_ttl_s': 5}, jobs_conf={'progress_interval_ms': 250})
               for w in wids]
    for w in workers:
        w.start()
    wait_registered(r, wids, 15)
    n = 2000
    recs = [empq.job_record(payload={'delay_ms': 0, 'test_data': i}) for i in range(n)]
    ids = [x[0] for x in recs]
    t0 = time.monotonic()
    empq.submit_many(r, recs)
    wait_until(lambda: r.hlen('jobs:completed') >= n, 90,
               'all %d jobs in jobs:completed (now %d)' % (n, r.hlen('jobs:completed')), interval=0.05)
    elapsed = time.monotonic() - t0
    wait_until(lambda: len(lst.all('complete_job')) >= n, 10, '%d complete_job messages' % n)
    cj = collections.Counter()
    by = {}
    for m in lst.json('complete_job'):
        cj[m['job_id']] += 1
        by[m['job_id']] = m['worker_id']
    claimed = collections.Counter(m['job_id'] for m in lst.json('job_claimed'))
    dup = [j for j, c in cj.items() if c != 1]
    check(not dup, 'complete_job more than once for %d jobs, e.g. %s' % (len(dup), dup[:3]))
    check(set(cj) == set(ids), 'complete_job for exactly the submitted jobs (%d of %d)' % (len(set(cj) & set(ids)), n))
    dupc = [j for j in ids if claimed[j] != 1]
    check(not dupc, 'job_claimed once per job; %d differ, e.g. %s' % (len(dupc), dupc[:3]))
    p = r.pipeline(transaction=False)
    for j in ids:
        p.hmget('job:' + j, 'status', 'worker_id', 'retry_count')
    rows = p.execute()
    bad = [(j, row) for j, row in zip(ids, rows) if row != ['completed', by.get(j), '0']]
    check(not bad, '%d job hashes are not completed/by the publishing worker/retry 0, e.g. %s' % (len(bad), bad[:3]))
    p = r.pipeline(transaction=False)
    for j in ids:
        p.hget('job:%s:progress' % j, 'progress')
    prog = collections.Counter(p.execute())
    check(prog == {'100': n}, 'job:<id>:progress.progress is 100 for every completed job: %r' % dict(prog))
    comp_keys = list(r.scan_iter('worker:completion:*', count=1000))
    check(len(comp_keys) == n and all(k.endswith(':attempt:1') for k in comp_keys),
          'one completion attestation per job, all attempt:1 (%d keys)' % len(comp_keys))
    check(not list(r.scan_iter('worker:failure:*')), 'no failure attestations')
    check(r.zcard('jobs:pending') == 0 and r.zcard('jobs:retry_delayed') == 0, 'queues empty')
    check(not list(r.scan_iter('jobs:active:*')), 'no jobs:active:* left')
    per = collections.Counter(by.values())
    ctx.note('%d jobs by 4 workers in %.2f s (%.0f jobs/s); per worker %s' %
             (n, elapsed, n / elapsed, dict(sorted(per.items()))))
    check(all(per[w] > 0 for w in wids), 'every worker took jobs')


# ------------------------------------------------------------------------------------------------
# 3. kill -9 mid-job; restart with the same WORKER_ID
# ------------------------------------------------------------------------------------------------

def scenario_kill9(ctx):
    """A worker killed with -9 mid-job: another worker completes the job after the heartbeat
    expires (retry_count 1, attempt 2), and the dead worker is marked offline."""
    r = ctx.start_redis()
    lst = ctx.listen(['complete_job', 'job_claimed'])
    a = ctx.worker('k9-a').start()
    wait_registered(r, ['k9-a'], 10)
    jid = submit_job(r, payload={'delay_ms': 2500})
    wait_running(r, jid, 'k9-a')
    ctx.worker('k9-b').start()
    wait_registered(r, ['k9-b'], 10)
    a.expect_killed = True
    a.kill9()
    t_kill = time.monotonic()
    check(r.hexists('jobs:active:k9-a', jid), 'the dead worker still holds the job in jobs:active')
    wait_until(lambda: r.hget('job:' + jid, 'worker_id') == 'k9-b', 10, 'job re-claimed by k9-b')
    t_requeue = time.monotonic() - t_kill
    # the heartbeat was at most heartbeat_interval_ms (0.5 s) old at the kill: TTL 2 s
    check(t_requeue >= 1.0, 'not taken from the worker before its heartbeat expired (%.2f s)' % t_requeue)
    h = job(r, jid)
    check(h['retry_count'] == '1' and h['last_failed_worker'] == 'k9-a', 'requeued with retry_count 1: %r' % h)
    att = json.loads(r.get(attest_key('failure', jid, ':attempt:1')))
    check(att['error_message'] == 'Worker disconnected/timeout: k9-a' and att['will_retry'] is True,
          'failure attestation of the lost attempt: %r' % att)
    check(not r.exists('jobs:active:k9-a'), 'jobs:active:k9-a drained')
    check(r.hget('worker:k9-a', 'status') == 'offline' and not r.sismember('workers:active', 'k9-a'),
          'dead worker marked offline and out of workers:active')
    wait_status(r, jid, 'completed', 10)
    cj = lst.wait('complete_job', lambda m: m['job_id'] == jid, 5, 'complete_job')
    check(len(cj) == 1 and cj[0]['worker_id'] == 'k9-b', 'complete_job once, by k9-b: %r' % cj)
    check(r.exists(attest_key('completion', jid, ':attempt:2')) and
          not r.exists(attest_key('completion', jid, ':attempt:1')), 'completion attestation attempt:2 only')
    check_job_claimed(lst, jid, 'k9-b', count=2)
    ctx.note('kill -9 -> job re-claimed by another worker after %.2f s (heartbeat_ttl_s 2)' % t_requeue)


def scenario_restart_same_id(ctx):
    """A worker restarted with the same WORKER_ID requeues its own leftover job at start-up."""
    r = ctx.start_redis()
    lst = ctx.listen(['complete_job', 'job_claimed'])
    a = ctx.worker('rs-a', redis_conf={'heartbeat_ttl_s': 30}).start()
    wait_registered(r, ['rs-a'], 10)
    jid = submit_job(r, payload={'delay_ms': 1500})
    wait_running(r, jid, 'rs-a')
    a.kill9()
    check(r.hexists('jobs:active:rs-a', jid) and r.exists('worker:rs-a:heartbeat'),
          'leftover in jobs:active:rs-a, heartbeat still alive (no sweeper would touch it)')
    a.start()
    a.wait_log(r'requeued 1 job\(s\) this worker held before it restarted', 10)
    wait_status(r, jid, 'completed', 10)
    h = job(r, jid)
    check(h['retry_count'] == '1' and h['worker_id'] == 'rs-a', 'completed on the retry: %r' % h)
    att = json.loads(r.get(attest_key('failure', jid, ':attempt:1')))
    check(att['error_message'] == 'Worker restarted: rs-a', 'attestation says why: %r' % att['error_message'])
    check(r.exists(attest_key('completion', jid, ':attempt:2')), 'completion attempt:2')
    check(not r.exists('jobs:active:rs-a'), 'jobs:active:rs-a drained')
    cj = lst.wait('complete_job', lambda m: m['job_id'] == jid, 5, 'complete_job')
    check(len(cj) == 1, 'complete_job once')
    check_job_claimed(lst, jid, 'rs-a', count=2)


# ------------------------------------------------------------------------------------------------
# 4. SIGSTOP past the heartbeat TTL
# ------------------------------------------------------------------------------------------------

def scenario_sigstop(ctx):
    """A paused worker loses its job to another; its late completion overwrites nothing."""
    r = ctx.start_redis()
    lst = ctx.listen(['complete_job', 'job_claimed', 'update_job_progress', 'worker_status'])
    a = ctx.worker('ss-a').start()
    wait_registered(r, ['ss-a'], 10)
    jid = submit_job(r, payload={'delay_ms': 2500})
    wait_running(r, jid, 'ss-a')
    b = ctx.worker('ss-b').start()
    wait_registered(r, ['ss-b'], 10)
    a.signal(signal.SIGSTOP)
    t_stop = time.monotonic()
    wait_running(r, jid, 'ss-b', timeout=10)
    t_taken = time.monotonic() - t_stop
    a.signal(signal.SIGCONT)
    # a's job has outlived its delay: it finishes at once and tries to complete
    a.wait_log(r'no longer ours', 10, 'ss-a drops its late result (fenced progress or completion)')
    check(r.hget('job:' + jid, 'status') == 'in_progress' and r.hget('job:' + jid, 'worker_id') == 'ss-b',
          'the late completion left the job to ss-b')
    check(not lst.json('complete_job', lambda m: m['job_id'] == jid), 'no complete_job from ss-a')
    check(not r.hexists('jobs:completed', jid), 'jobs:completed untouched by ss-a')
    wait_status(r, jid, 'completed', 10)
    cj = lst.wait('complete_job', lambda m: m['job_id'] == jid, 5, 'complete_job')
    check(len(cj) == 1 and cj[0]['worker_id'] == 'ss-b', 'complete_job once, by ss-b: %r' % cj)
    check(r.hget('job:' + jid, 'worker_id') == 'ss-b', 'job.worker_id stays ss-b')
    check(r.exists(attest_key('completion', jid, ':attempt:2')) and
          not r.exists(attest_key('completion', jid, ':attempt:1')), 'only ss-b attested a completion')
    # ss-a must still be a healthy worker
    check(a.alive() and b.alive(), 'both workers still running')
    b.stop()
    j2 = submit_job(r, payload={'delay_ms': 10})
    wait_status(r, j2, 'completed', 10)
    check(r.hget('job:' + j2, 'worker_id') == 'ss-a', 'ss-a serves the next job')
    # Progress writes are fenced (job_progress.lua): the paused worker publishes no progress
    # for the job it lost once it resumes.
    late = [m for m in lst.json('update_job_progress', lambda m: m.get('job_id') == jid and m['worker_id'] == 'ss-a')
            if m.get('timestamp', 0) / 1000.0 > time.time() - (time.monotonic() - t_stop) + t_taken]
    check(not late, 'no progress from ss-a for the job it lost: %r' % [m['progress'] for m in late])
    ctx.note('paused worker lost its job after %.2f s' % t_taken)
    wait_until(lambda: r.sismember('workers:active', 'ss-a'), 5,
               'ss-a back in workers:active after its pause (it was swept as dead)')


# ------------------------------------------------------------------------------------------------
# 5. 50 idle workers, one job
# ------------------------------------------------------------------------------------------------

def scenario_idle50(ctx):
    """50 idle workers and one submitted job: exactly one claims it; the Redis commands spent
    on the wake-up are printed."""
    r = ctx.start_redis()
    lst = ctx.listen(['job_claimed', 'complete_job'])
    wids = ['idle-%02d' % i for i in range(50)]
    env = {'MALLOC_ARENA_MAX': '1',
           'ASAN_OPTIONS': 'quarantine_size_mb=4:malloc_context_size=5:detect_leaks=1:exitcode=99'}
    # background timers out of the way of the measurement: no heartbeat, sweep or fallback poll
    # falls into the few seconds measured (sweep's first run is random within its interval)
    rc = {'heartbeat_interval_ms': 60000, 'heartbeat_ttl_s': 120, 'sweep_interval_ms': 3600000,
          'fallback_poll_ms': 3600000}
    ws = [ctx.worker(w, redis_conf=rc, env=env) for w in wids]
    t0 = time.monotonic()
    for w in ws:
        w.start()
    wait_registered(r, wids, 60)
    # each has made its first (empty) claim: 50 FCALLs done, then quiet
    wait_until(lambda: commandstats(r).get('fcall', 0) >= 50, 30, '50 initial claims')
    before = settled_commandstats(r)
    t_up = time.monotonic() - t0
    rss = sum(w.rss_kib() for w in ws)
    jid = submit_job(r, payload={'delay_ms': 0})
    wait_status(r, jid, 'completed', 10)
    after = settled_commandstats(r)
    delta = stats_delta(before, after)
    for k, v in (('hset', 1), ('zadd', 1), ('publish', 1)):  # our own submission
        delta[k] = delta.get(k, 0) - v
    delta.pop('info', None)
    delta = {k: v for k, v in delta.items() if v}
    claimed = lst.json('job_claimed', lambda m: m['job_id'] == jid)
    check(len(claimed) == 1, 'exactly one claim: %r' % claimed)
    check(len(lst.json('complete_job', lambda m: m['job_id'] == jid)) == 1, 'one complete_job')
    check(all(w.alive() for w in ws), 'all 50 workers alive')
    ctx.note('50 workers up and idle in %.1f s, total RSS %.1f MiB (%.2f MiB each)' %
             (t_up, rss / 1024, rss / 1024 / 50))
    ctx.note('Redis commands for one job with 50 idle workers (INFO commandstats delta, incl. '
             'commands run inside scripts, minus the submission): %s' % json.dumps(dict(sorted(delta.items()))))
    wake = {k: delta.get(k, 0) for k in ('zscore', 'fcall', 'evalsha')}
    ctx.note('wake-up: zscore %d, fcall %d, evalsha %d (one fcall claimed the job)' %
             (wake['zscore'], wake['fcall'], wake['evalsha']))
    check(delta.get('fcall', 0) < 50, 'fewer FCALLs than idle workers (%d)' % delta.get('fcall', 0))


# ------------------------------------------------------------------------------------------------
# 6. Redis restarted mid-job
# ------------------------------------------------------------------------------------------------

def scenario_redis_restart(ctx):
    """Redis (appendonly) restarted mid-job: the completion lands after it is back."""
    r = ctx.start_redis(appendonly=True)
    lst = ctx.listen(['complete_job'])
    w = ctx.worker('rr-a', redis_conf={'heartbeat_ttl_s': 10}).start()
    wait_registered(r, ['rr-a'], 10)
    j0 = submit_job(r, payload={'delay_ms': 0})
    wait_status(r, j0, 'completed', 10)
    delay = 1000
    jid = submit_job(r, payload={'delay_ms': delay})
    wait_running(r, jid, 'rr-a')
    t_run = time.monotonic()
    ctx.redis.stop()
    t_down = time.monotonic()
    w.wait_log(r'cannot connect to Redis', 10, 'the worker notices Redis is gone')
    # keep Redis down until the job has ended inside the worker (its delay has passed)
    wait_until(lambda: time.monotonic() > t_run + delay / 1000.0 + 0.5, 5, 'the job ends during the outage')
    check(w.alive(), 'the worker keeps running without Redis')
    ctx.redis.restart()
    outage = time.monotonic() - t_down
    r = ctx.r = ctx.redis.client()
    check(r.hget('job:' + jid, 'status') == 'in_progress', 'AOF restored the running job')
    wait_status(r, jid, 'completed', 30)
    cj = lst.wait('complete_job', lambda m: m['job_id'] == jid, 10, 'complete_job after the restart')
    check(len(cj) == 1, 'complete_job once')
    check(r.hget('job:' + jid, 'worker_id') == 'rr-a' and r.hexists('jobs:completed', jid), 'completion landed')
    check(w.alive(), 'still running')
    wait_registered(r, ['rr-a'], 10)
    j2 = submit_job(r, payload={'delay_ms': 10})
    wait_status(r, j2, 'completed', 10)
    # a short outage while a job runs: after the reconnect the worker is still shown busy
    j3 = submit_job(r, payload={'delay_ms': 3000})
    wait_running(r, j3, 'rr-a')
    ctx.redis.stop()
    t_restart = empq.iso_now()
    ctx.redis.restart()
    r = ctx.r = ctx.redis.client()
    # the first write after the restart is the re-registration (its last_heartbeat), which says
    # idle; the worker must then mark itself busy with the job that is still running
    wait_until(lambda: iso_to_ms(r.hget('worker:rr-a', 'last_heartbeat')) >= iso_to_ms(t_restart), 10,
               're-registration after the restart')
    wait_until(lambda: r.hmget('worker:rr-a', 'status', 'current_job_id') == ['busy', j3], 2,
               'after the reconnect worker:rr-a says busy with its running job (now %r)' %
               r.hmget('worker:rr-a', 'status', 'current_job_id'))
    check(r.hget('job:' + j3, 'status') == 'in_progress', 'the job is still running after the re-registration')
    wait_status(r, j3, 'completed', 10)
    wait_until(lambda: r.hget('worker:rr-a', 'total_jobs_completed') == '4', 5,
               'worker:rr-a total_jobs_completed counts all 4 jobs across the reconnect (now %r)' %
               r.hget('worker:rr-a', 'total_jobs_completed'))
    ctx.note('Redis down %.1f s while the job ended; its completion was written after the reconnect' % outage)


# ------------------------------------------------------------------------------------------------
# 7. cancel_job
# ------------------------------------------------------------------------------------------------

def scenario_cancel(ctx):
    """The API's cancel stops the running job quickly; the status stays failed; the worker goes
    on with the next job."""
    r = ctx.start_redis()
    lst = ctx.listen(['complete_job', 'job_failed', 'worker_status'])
    w = ctx.worker('cx-a').start()
    wait_registered(r, ['cx-a'], 10)
    jid = submit_job(r, payload={'delay_ms': 10000})
    wait_running(r, jid, 'cx-a')
    t0 = time.monotonic()
    check(empq.api_cancel(r, jid) == 'cx-a', 'cancel names the worker')
    lst.wait('worker_status', lambda m: m['new_status'] == 'idle', 5, 'worker idle after the cancel')
    stop_s = time.monotonic() - t0
    check(stop_s < 3, 'stopped in %.2f s, well before delay_ms 10000' % stop_s)
    h = job(r, jid)
    check(h['status'] == 'failed' and h['error'] == 'Job cancelled by user', 'still cancelled: %r' % h)
    check(json.loads(r.hget('jobs:failed', jid)).get('cancelled') is True, "jobs:failed keeps the API's record")
    check(not r.hexists('jobs:active:cx-a', jid), 'jobs:active entry removed')
    check(r.hget('worker:cx-a', 'status') == 'idle' and r.hget('worker:cx-a', 'current_job_id') == '', 'worker idle')
    j2 = submit_job(r, payload={'delay_ms': 10})
    wait_status(r, j2, 'completed', 10)
    check(r.hget('job:' + j2, 'worker_id') == 'cx-a', 'the same worker took the next job')
    check(r.hget('job:' + jid, 'status') == 'failed', 'cancelled job never became completed')
    check(not lst.json('complete_job', lambda m: m['job_id'] == jid), 'no complete_job for the cancelled job')
    check(not lst.json('job_failed', lambda m: m['job_id'] == jid), 'the worker published no job_failed over the API')
    check(not r.keys('worker:completion:*%s*' % jid) and not r.keys('worker:failure:*%s*' % jid),
          'no attestation for the cancelled job')
    check(r.zscore('jobs:pending', jid) is None and r.zscore('jobs:retry_delayed', jid) is None, 'not requeued')
    w.wait_log(r'cancel_job received for the running job', 1)
    ctx.note('cancel -> worker idle in %.2f s' % stop_s)


# ------------------------------------------------------------------------------------------------
# 8. SIGTERM mid-job past the grace period
# ------------------------------------------------------------------------------------------------

def scenario_sigterm(ctx):
    """SIGTERM past shutdown_grace_s: the job is requeued (retry_count+1) and the worker
    deregistered; SIGTERM within the grace period lets the job finish."""
    r = ctx.start_redis()
    lst = ctx.listen(['job_failed', 'worker:events', 'machine:startup:events'], ['worker_status:*'])
    w = ctx.worker('st-a', jobs_conf={'shutdown_grace_s': 1}).start()
    wait_registered(r, ['st-a'], 10)
    jid = submit_job(r, payload={'delay_ms': 10000})
    created, prio = r.hmget('job:' + jid, 'created_at', 'priority')
    score = float(prio) * 1e15 - (iso_to_ms(created) // 1000)  # the API's formula (3.6)
    wait_running(r, jid, 'st-a')
    t0 = time.monotonic()
    w.signal(signal.SIGTERM)
    rc = w.wait_exit(10)
    took = time.monotonic() - t0
    check(rc == 0, 'exit code 0 (%r)' % rc)
    check(0.9 <= took < 5, 'exited after the 1 s grace period (%.2f s)' % took)
    h = job(r, jid)
    check(h['status'] == 'pending' and h['worker_id'] == '' and h['assigned_at'] == '' and
          h['retry_count'] == '1' and h['last_failed_worker'] == 'st-a', 'requeued: %r' % h)
    check(r.zscore('jobs:pending', jid) == score, 'back in jobs:pending with its API score (%r vs %r)' %
          (r.zscore('jobs:pending', jid), score))
    check(r.zscore('jobs:retry_delayed', jid) is None, 'requeued at once, not delayed')
    check(not lst.json('job_failed'), 'no job_failed for a requeued job')
    check(not r.exists('worker:st-a') and not r.sismember('workers:active', 'st-a') and
          not r.exists('worker:st-a:heartbeat'), 'deregistered (worker:st-a deleted, not in workers:active)')
    check(not r.hexists('jobs:active:st-a', jid), 'no jobs:active entry left')
    lst.wait('worker:events', lambda m: m.get('type') == 'worker_disconnected', 5, 'worker_disconnected')
    lst.wait('worker_status:st-a', lambda m: m.get('status') == 'offline', 5, 'worker_status:<wid> offline')
    lst.wait('machine:startup:events', lambda m: m.get('event_type') == 'shutdown', 5, 'shutdown event')
    ctx.note('SIGTERM -> exit in %.2f s with the job requeued' % took)
    # within the grace period the job finishes
    r.delete('job:' + jid)
    r.zrem('jobs:pending', jid)
    w2 = ctx.worker('st-b', jobs_conf={'shutdown_grace_s': 5}).start()
    wait_registered(r, ['st-b'], 10)
    j2 = submit_job(r, payload={'delay_ms': 600})
    wait_running(r, j2, 'st-b')
    w2.signal(signal.SIGTERM)
    check(w2.wait_exit(10) == 0, 'exit 0')
    check(r.hget('job:' + j2, 'status') == 'completed', 'a job within the grace period completes')


# ------------------------------------------------------------------------------------------------
# 9. job timeout, retries with backoff, permanent failure
# ------------------------------------------------------------------------------------------------

def scenario_timeout(ctx):
    """requirements.timeout_minutes 0.005 (300 ms) with delay_ms 5000: cancelled and requeued
    with backoff via jobs:retry_delayed, then failed permanently after max_retries."""
    r = ctx.start_redis()
    lst = ctx.listen(['job_failed', 'complete_job'])
    w = ctx.worker('to-a', jobs_conf={'retry_backoff_base_ms': 300, 'retry_backoff_max_ms': 2000}).start()
    wait_registered(r, ['to-a'], 10)
    t0 = time.monotonic()
    jid = submit_job(r, payload={'delay_ms': 5000}, requirements={'timeout_minutes': 0.005})
    states = []
    last = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        p = r.pipeline(transaction=True)
        p.hmget('job:' + jid, 'status', 'retry_count')
        p.zscore('jobs:retry_delayed', jid)
        p.zscore('jobs:pending', jid)
        (st, rc), delayed, pending = p.execute()
        where = 'delayed' if delayed is not None else 'pending' if pending is not None else '-'
        cur = (st, rc, where)
        if cur != last:
            states.append((round(time.monotonic() - t0, 3),) + cur)
            last = cur
        if st == 'failed':
            break
        time.sleep(0.005)
    total = time.monotonic() - t0
    check(last and last[0] == 'failed', 'the job failed permanently (states: %s)' % states)
    seen = [(s[1], s[2], s[3]) for s in states]
    for n in ('1', '2'):
        check(('pending', n, 'delayed') in seen, 'after attempt %s the job waited in jobs:retry_delayed: %s' % (n, seen))
        i = seen.index(('pending', n, 'delayed'))
        check(('pending', n, 'pending') in seen[i:] or ('assigned', n, '-') in seen[i:] or
              ('in_progress', n, '-') in seen[i:], 'then came back to be claimed: %s' % seen)
    check(all(s[0] != 'completed' for s in seen), 'never completed')
    h = job(r, jid)
    check(h['retry_count'] == '3', 'retry_count 3 at the end: %r' % h['retry_count'])
    check(total < 5, 'three attempts finished before one delay_ms (%.2f s)' % total)
    jf = lst.wait('job_failed', lambda m: m['job_id'] == jid, 5, 'job_failed')
    check(len(jf) == 1 and jf[0]['can_retry'] is False and jf[0]['retry_count'] == 3 and
          'timeout' in jf[0]['error'].lower(), 'job_failed once, can_retry false: %r' % jf)
    for n in (1, 2):
        a = json.loads(r.get(attest_key('failure', jid, ':attempt:%d' % n)))
        check(a['will_retry'] is True and 'timeout' in a['error_message'].lower(), 'attempt %d attestation: %r' % (n, a))
    check(r.exists(attest_key('failure', jid, ':permanent')), 'permanent attestation')
    check(not lst.json('complete_job'), 'no complete_job')
    check(w.alive(), 'worker alive')
    ctx.note('timeout states (s, status, retry_count, queue): %s' % states)


# ------------------------------------------------------------------------------------------------
# 10. malformed jobs
# ------------------------------------------------------------------------------------------------

def scenario_malformed(ctx):
    """Malformed jobs fail with a clear reason (or are left alone) and the worker keeps serving."""
    r = ctx.start_redis()
    lst = ctx.listen(['job_failed', 'complete_job', 'worker_status'])
    w = ctx.worker('mf-a', redis_conf={'fallback_poll_ms': 200}).start()
    wait_registered(r, ['mf-a'], 10)

    def serves():
        j = submit_job(r, payload={'delay_ms': 0})
        wait_status(r, j, 'completed', 10, 'worker still serves (job %s)' % j)

    # an id in jobs:pending without a hash, ahead of everything (skipped by the claim)
    r.zadd('jobs:pending', {'ghost-' + uuid.uuid4().hex: 9e16})
    serves()
    # payload that is not JSON
    j1 = submit_job(r, raw_payload='not json {', payload=None)
    wait_status(r, j1, 'failed', 10)
    err = json.loads(r.hget('jobs:failed', j1))['error']
    check('payload' in err and 'JSON' in err, 'a clear reason for the bad payload: %r' % err)
    serves()
    # a service no worker here serves: never claimed, left for someone else
    j2 = submit_job(r, service='nosuch', payload={'delay_ms': 0})
    f0 = commandstats(r).get('fcall', 0)
    wait_until(lambda: commandstats(r).get('fcall', 0) >= f0 + 2, 5, 'two more claim attempts')
    check(job(r, j2)['status'] == 'pending' and r.zscore('jobs:pending', j2) is not None,
          'unknown service stays pending, untouched')
    serves()
    # a hash without service_required (written by another tool): the claim cannot check it
    j3 = 'nosvc-' + uuid.uuid4().hex
    _, h3, score3, _ = empq.job_record(job_id=j3, payload={'delay_ms': 0})
    del h3['service_required']
    r.hset('job:' + j3, mapping=h3)
    r.zadd('jobs:pending', {j3: score3})
    wait_status(r, j3, 'failed', 10)
    err = json.loads(r.hget('jobs:failed', j3))['error']
    check('no connector for service' in err, 'a clear reason for a job without a service: %r' % err)
    ctx.note('job without service_required -> %r after %s attempts' % (err, r.hget('job:' + j3, 'retry_count')))
    serves()
    # the hash deleted mid-job
    j4 = submit_job(r, payload={'delay_ms': 800})
    wait_running(r, j4, 'mf-a')
    n_idle = len(lst.json('worker_status', lambda m: m['new_status'] == 'idle'))
    r.delete('job:' + j4)
    lst.wait('worker_status', lambda m: m['new_status'] == 'idle', 5, 'idle after the deleted job', count=n_idle + 1)
    w.wait_log(r'job %s (finished, but it )?is no longer ours' % j4, 2)
    check(not r.exists('job:' + j4), 'the deleted hash was not resurrected: %r' % r.hgetall('job:' + j4))
    check(not r.hexists('jobs:completed', j4) and not lst.json('complete_job', lambda m: m['job_id'] == j4),
          'no completion for a deleted job')
    check(not r.exists('jobs:active:mf-a'), 'no jobs:active entry left')
    serves()
    check(w.alive(), 'worker alive')


# ------------------------------------------------------------------------------------------------
# per-job cost
# ------------------------------------------------------------------------------------------------

def scenario_job_cost(ctx):
    """The Redis commands one mock job costs (INFO commandstats delta), split with MONITOR into
    what the worker sends and what runs inside scripts; round trips from the pipelining."""
    r = ctx.start_redis()
    rc = {'heartbeat_interval_ms': 60000, 'heartbeat_ttl_s': 120, 'sweep_interval_ms': 3600000,
          'fallback_poll_ms': 3600000}
    # the default coalescing (one progress write per interval): a job shorter than the interval
    # writes only its final progress, pipelined with the completion
    ctx.worker('cost-a', redis_conf=rc, jobs_conf={'progress_interval_ms': 60000}).start()
    wait_registered(r, ['cost-a'], 10)
    wait_until(lambda: commandstats(r).get('fcall', 0) >= 1, 10, 'first claim')
    mon = empq.Monitor(ctx.redis)
    me = r.client_info()['addr']
    before = settled_commandstats(r)
    jid = submit_job(r, payload={'delay_ms': 0})
    wait_status(r, jid, 'completed', 10)
    after = settled_commandstats(r)
    mon_lines = mon.stop()
    delta = stats_delta(before, after)
    for k, v in (('hset', 1), ('zadd', 1), ('publish', 1)):  # our own submission
        delta[k] = delta.get(k, 0) - v
    for k in ('info', 'monitor', 'client'):
        delta.pop(k, None)
    delta = {k: v for k, v in delta.items() if v}
    top = [m for m in mon_lines if m['source'] not in ('lua', me) and m['cmd'] not in ('INFO', 'CLIENT')]
    inner = [m for m in mon_lines if m['source'] == 'lua']
    top_names = collections.Counter(m['cmd'] for m in top)
    # round trips: commands of one connection less than 40 us apart came in one pipeline
    rts = 0
    prev = {}
    for m in top:
        if m['source'] not in prev or m['t'] - prev[m['source']] > 40e-6:
            rts += 1
        prev[m['source']] = m['t']
    ctx.note('one mock job (delay 0, progress 10/80/100): INFO commandstats delta %s (total %d)' %
             (json.dumps(dict(sorted(delta.items()))), sum(delta.values())))
    ctx.note('sent by the worker: %d commands %s in ~%d round trips; %d more run inside its scripts/function' %
             (len(top), json.dumps(dict(sorted(top_names.items()))), rts, len(inner)))
    # the claim, plus the claim the worker makes at once after a job (empty here; in a stream of
    # jobs it claims the next one)
    check(delta.get('fcall') == 2, 'two FCALLs: the claim and the one right after the job (%r)' % delta.get('fcall'))
    check(top_names.get('FCALL') == 2 and top_names.get('EVALSHA', 0) == 3 and top_names.get('ZSCORE') == 1,
          'worker commands: a wake-up ZSCORE, FCALL, start, final progress pipelined with the '
          'completion (EVALSHA x3), FCALL (%r)' % dict(top_names))


SCENARIOS = collections.OrderedDict([
    ('protocol', scenario_protocol),
    ('throughput', scenario_throughput),
    ('kill9', scenario_kill9),
    ('restart_same_id', scenario_restart_same_id),
    ('sigstop', scenario_sigstop),
    ('idle50', scenario_idle50),
    ('redis_restart', scenario_redis_restart),
    ('cancel', scenario_cancel),
    ('sigterm', scenario_sigterm),
    ('timeout', scenario_timeout),
    ('malformed', scenario_malformed),
    ('job_cost', scenario_job_cost),
])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--worker', required=True, help='the emp-worker binary')
    ap.add_argument('--plugins', required=True, help='the plugin dir (holds mock.so)')
    ap.add_argument('--only', action='append', default=[], help='run only this scenario (repeatable)')
    ap.add_argument('--keep', action='store_true', help='keep the temp dirs')
    args = ap.parse_args()
    names = args.only or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print('unknown scenario(s): %s (have: %s)' % (', '.join(unknown), ', '.join(SCENARIOS)))
        return 2
    for path in (args.worker, os.path.join(args.plugins, 'mock.so')):
        if not os.path.exists(path):
            print('missing %s' % path)
            return 2
    failed = []
    t_all = time.monotonic()
    for name in names:
        ctx = Ctx(args, name)
        print('RUN  %s: %s' % (name, SCENARIOS[name].__doc__.strip().splitlines()[0]), flush=True)
        t0 = time.monotonic()
        err = None
        try:
            SCENARIOS[name](ctx)
        except Exception as e:  # noqa: BLE001 - report any failure with its traceback
            err = e
            tb = traceback.format_exc()
        problems = ctx.cleanup()
        dt = time.monotonic() - t0
        if err is None and not problems:
            print('PASS %s (%.1f s)' % (name, dt), flush=True)
        else:
            failed.append(name)
            print('FAIL %s (%.1f s)' % (name, dt))
            if err is not None:
                print(tb if not isinstance(err, TestFailure) else '  %s' % err)
            for p in problems:
                print('  ' + p)
            ctx.dump_logs()
            print('  (temp dir %s)' % ctx.tmpdir)
            ctx.keep = True
        ctx.remove()
    print('%d passed, %d failed (%.1f s)%s' % (len(names) - len(failed), len(failed), time.monotonic() - t_all,
                                              ': ' + ', '.join(failed) if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
