#!/usr/bin/python3
"""test_bad_input.py - the rows of docs/bad-input.md: malformed, oversized, deeply nested,
incomplete or non-UTF-8 jobs and messages, and a job hash deleted mid-job.

Each test checks the three promises: the job ends with a clear reason (or, where the protocol
says a job waits, it waits untouched), nothing else is lost (a normal job submitted afterwards
completes), and the worker keeps running (and exits 0 with no sanitizer report at the end).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (Listener, Worker, check, failure_reason, job_record, main, submit,
                      wait_ready, wait_status, wait_until)

CHANNELS = ('complete_job', 'job_failed', 'update_job_progress')


def setup(ctx, jobs_conf=None, redis_conf=None, n=1):
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, CHANNELS)
    ws = [wait_ready(r, Worker(ctx, 'bad-w%d' % i, jobs_conf=jobs_conf,
                               redis_conf=redis_conf).start()) for i in range(n)]
    return srv, r, lst, ws


def still_works(ctx, r, workers):
    """A normal job completes afterwards, and every worker is alive."""
    jid = submit(r, payload={'delay_ms': 5, 'test_data': 'after'})
    wait_status(r, jid, 'completed', 30, 'a normal job after the bad input completes')
    for w in workers:
        check(w.alive(), 'worker %s still running' % w.worker_id)


def finish(ctx, workers):
    for w in workers:
        w.stop_clean()


def expect_failed(r, lst, jid, needle, timeout=30):
    wait_status(r, jid, 'failed', timeout)
    reason = failure_reason(r, jid)
    check(reason and needle in reason, 'failure reason of %s mentions %r: %r' % (jid, needle,
                                                                                 reason))
    wait_until(lambda: lst.count('job_failed', jid), 5, 'job_failed for %s' % jid)
    msgs = lst.json('job_failed', lambda j: j.get('job_id') == jid)
    check(len(msgs) == 1 and needle in msgs[0].get('error', ''),
          'one job_failed with the reason (%r)' % msgs)
    check(lst.count('complete_job', jid) == 0, 'no complete_job for %s' % jid)
    return reason


# ------------------------------------------------------------------------------------------------

def test_malformed_json_payload(ctx):
    srv, r, lst, ws = setup(ctx)
    ids = [submit(r, raw_payload=p) for p in ('{"delay_ms": 5,', 'not json at all', '[1, 2, 3]',
                                              '"a string"',
                                              # a raw NUL: the payload is read up to it
                                              '{"delay_ms": 0, "test_data": "a\x00b"}')]
    for jid in ids:
        reason = expect_failed(r, lst, jid, 'not a JSON object')
        check(r.hget('job:' + jid, 'retry_count') == '1', 'failed at once (permanent), no retry')
    ctx.note('reason: %r', reason)
    still_works(ctx, r, ws)
    finish(ctx, ws)


def test_payload_over_limits(ctx):
    """No payload size limit exists in the worker: a 48 MiB payload runs (the claim reply,
    job_submitted over the 1 MiB parse cap, the plugin). A result over jobs.max_result_bytes
    (1 MiB here) is refused by the host and the job fails with the plugin's reason."""
    srv, r, lst, ws = setup(ctx, jobs_conf={'max_result_bytes': 1 << 20})
    w = ws[0]
    big = 'x' * (48 << 20)
    t0 = time.monotonic()
    jid = submit(r, raw_payload='{"delay_ms": 0, "padding": "%s"}' % big)
    wait_status(r, jid, 'completed', 120, '48 MiB payload completes')
    ctx.note('48 MiB payload completed in %.1f s; worker RSS %d MiB', time.monotonic() - t0,
             w.rss_kib() // 1024)
    j2 = submit(r, payload={'delay_ms': 0, 'test_data': 'y' * (2 << 20)})
    reason = expect_failed(r, lst, j2, 'result refused by host')
    ctx.note('2 MiB result over the 1 MiB cap: %r', reason)
    # a 2 MiB job_submitted message is not parsed (cap 1 MiB) but still wakes the worker
    rec = job_record(payload={'delay_ms': 0, 'pad': 'z' * (2 << 20)})
    r.hset('job:' + rec[0], mapping=rec[1])
    r.zadd('jobs:pending', {rec[0]: rec[2]})
    r.publish('job_submitted', json.dumps({'job_id': rec[0], 'service_required': 'mock',
                                           'payload': {'pad': 'z' * (2 << 20)}}))
    wait_status(r, rec[0], 'completed', 30)
    still_works(ctx, r, ws)
    finish(ctx, ws)


def test_nested_10000_deep(ctx):
    """10,000 levels of nesting: in the payload (cJSON's limit is 1000: the mock reports "not a
    JSON object"), in job_submitted and cancel_job messages (ignored), and in requirements
    (findMatchingJob's cjson refuses it; unparsable requirements count as {} as in the
    reference (protocol 3.3), and the worker's own reading of requirements.timeout_minutes
    falls back to the configured timeout: the job runs)."""
    srv, r, lst, ws = setup(ctx)
    deep = '[' * 10000 + ']' * 10000
    deep_obj = '{"a":' * 10000 + '1' + '}' * 10000
    j1 = submit(r, raw_payload='{"delay_ms": 0, "x": %s}' % deep)
    expect_failed(r, lst, j1, 'not a JSON object')
    r.publish('job_submitted', deep_obj)
    r.publish('cancel_job', deep_obj)
    r.publish('emp-worker:wake', deep)
    rec = job_record(payload={'delay_ms': 0})
    rec[1]['requirements'] = deep_obj
    r.hset('job:' + rec[0], mapping=rec[1])
    r.zadd('jobs:pending', {rec[0]: rec[2]})
    wait_status(r, rec[0], 'completed', 30, 'job with 10,000-deep requirements runs')
    still_works(ctx, r, ws)
    finish(ctx, ws)


def test_unknown_service(ctx):
    """A service no worker serves: never claimed here (findMatchingJob matches
    service_required against the worker's services); it waits for a worker that serves it."""
    srv, r, lst, ws = setup(ctx)
    fc0 = r.info('commandstats').get('cmdstat_fcall', {}).get('calls', 0)
    jid = submit(r, service='no-such-service', payload={'delay_ms': 0})
    still_works(ctx, r, ws)
    wait_until(lambda: r.info('commandstats').get('cmdstat_fcall', {}).get('calls', 0) >= fc0 + 3,
               10, 'the worker polled the queue several times')
    h = r.hgetall('job:' + jid)
    check(h['status'] == 'pending' and not h.get('worker_id'), 'unclaimed: %r' % h)
    check(r.zscore('jobs:pending', jid) is not None, 'still in jobs:pending')
    finish(ctx, ws)


def test_missing_fields(ctx):
    """No payload: the plugin gets {} (mock runs with its defaults). No retry_count /
    max_retries: 0 and 3. No id / created_at / priority: the claim reply's jobId and the API
    score with defaults. No service_required: findMatchingJob lets any worker claim it (the
    reference's rule, protocol 2.2); the worker gives it back at once, and once retries are
    spent it fails with the reason naming the missing service."""
    srv, r, lst, ws = setup(ctx)
    no_payload = submit(r, omit=('payload',))
    wait_status(r, no_payload, 'completed', 30)
    no_counts = submit(r, payload={'delay_ms': 0, 'should_fail': True},
                       omit=('retry_count', 'max_retries'))
    reason = expect_failed(r, lst, no_counts, 'Mock failure requested')
    check(r.hget('job:' + no_counts, 'retry_count') == '3', 'three attempts (default max 3)')
    bare = submit(r, payload={'delay_ms': 0}, omit=('id', 'created_at', 'priority', 'ctx',
                                                    'requirements', 'customer_id'))
    wait_status(r, bare, 'completed', 30)
    no_service = submit(r, payload={'delay_ms': 0}, omit=('service_required',))
    reason = expect_failed(r, lst, no_service, 'has no connector for service ""')
    ctx.note('missing service_required: %r', reason)
    # garbage in the numeric fields: defaults apply
    garbage = submit(r, payload={'delay_ms': 0}, extra={'priority': 'high', 'retry_count': 'x',
                                                        'max_retries': '', 'created_at': 'then',
                                                        'requirements': '{not json'})
    wait_status(r, garbage, 'completed', 30)
    still_works(ctx, r, ws)
    finish(ctx, ws)


def test_non_utf8_bytes(ctx):
    """Bytes that are not UTF-8 in the payload (inside a JSON string), in other fields and in a
    message: passed through as bytes; the job completes, its result keeps them."""
    srv, r, lst, ws = setup(ctx)
    rb = srv.client(decode=False)
    lstb = Listener(srv, ('complete_job',), decode=False)
    jid, h, score, _ = job_record()
    h = {k.encode(): v.encode() for k, v in h.items()}
    h[b'payload'] = b'{"delay_ms": 0, "test_data": "caf\xe9 \xff\xfe \xc3"}'
    h[b'customer_id'] = b'\x80\x81'
    h[b'ctx'] = b'\xff'
    rb.hset(b'job:' + jid.encode(), mapping=h)
    rb.zadd('jobs:pending', {jid: score})
    rb.publish('job_submitted', b'{"job_id": "\xff\xfe", "service_required": "mo\xffck"}')
    wait_status(r, jid, 'completed', 30)
    res = rb.hget('jobs:completed', jid)
    check(b'caf\xe9 \xff\xfe \xc3' in res, 'result keeps the raw bytes: %r' % res[:200])
    wait_until(lambda: any(jid.encode() in d for _, _, d in lstb.all()), 10, 'complete_job')
    # a service name that is not UTF-8 is simply not ours
    j2, h2, s2, _ = job_record(payload={'delay_ms': 0})
    h2 = {k.encode(): v.encode() for k, v in h2.items()}
    h2[b'service_required'] = b'mo\xffck'
    rb.hset(b'job:' + j2.encode(), mapping=h2)
    rb.zadd('jobs:pending', {j2: s2})
    still_works(ctx, r, ws)
    check(r.hget('job:' + j2, 'status') == 'pending', 'non-UTF-8 service waits unclaimed')
    finish(ctx, ws)


def test_job_hash_deleted_mid_job(ctx):
    """DEL job:<id> while it runs: the worker sees the job is no longer its own (the ownership
    check stops it; at the latest the fenced completion finds no owner) and writes nothing (no
    half hash is re-created, no complete_job, no jobs:completed entry); its own records are
    cleared and it goes on. A pending id whose hash is gone is skipped by the claim
    (it stays in jobs:pending, as in the reference)."""
    srv, r, lst, ws = setup(ctx)
    w = ws[0]
    jid = submit(r, payload={'delay_ms': 800})
    wait_until(lambda: lst.json('update_job_progress', lambda j: j.get('job_id') == jid and
                                j.get('progress', 0) >= 10), 30, 'job running')
    r.delete('job:' + jid)
    # the worker notices (its ownership check stops the job, or the fenced completion drops it)
    w.wait_log(r'job %s (finished, but it is no longer ours|ended \(lost\))' % jid, 30)
    check(not r.exists('job:' + jid), 'the deleted hash is not re-created')
    check(not r.hexists('jobs:completed', jid) and lst.count('complete_job', jid) == 0,
          'no completion recorded')
    check(r.hlen('jobs:active:' + w.worker_id) == 0, 'jobs:active cleared')
    wait_until(lambda: r.hget('worker:' + w.worker_id, 'status') == 'idle', 10, 'worker idle')
    ghost = 'ghost-' + jid
    r.zadd('jobs:pending', {ghost: 6e16})  # ahead of everything, no hash
    still_works(ctx, r, ws)
    check(r.zscore('jobs:pending', ghost) is not None, 'an id without a hash stays pending')
    finish(ctx, ws)


def test_garbage_messages(ctx):
    """Garbage on the channels the worker subscribes to (job_submitted, cancel_job,
    emp-worker:wake): ignored, and a cancel_job for another job does not touch the running one."""
    srv, r, lst, ws = setup(ctx)
    jid = submit(r, payload={'delay_ms': 600})
    wait_until(lambda: r.hget('job:' + jid, 'status') == 'in_progress', 30, 'job running')
    for ch in ('job_submitted', 'cancel_job', 'emp-worker:wake'):
        for m in ('', 'null', '[]', '{"job_id": 5}', '{"job_id": null}', '\x00\x01',
                  '{"job_id": "%s-other"}' % jid, '"' * 5000, '{' * 100):
            r.publish(ch, m)
    wait_status(r, jid, 'completed', 30)
    still_works(ctx, r, ws)
    finish(ctx, ws)


TESTS = {
    'bad_input_malformed_json': test_malformed_json_payload,
    'bad_input_over_limits': test_payload_over_limits,
    'bad_input_nested_10000': test_nested_10000_deep,
    'bad_input_unknown_service': test_unknown_service,
    'bad_input_missing_fields': test_missing_fields,
    'bad_input_non_utf8': test_non_utf8_bytes,
    'bad_input_hash_deleted_mid_job': test_job_hash_deleted_mid_job,
    'bad_input_garbage_messages': test_garbage_messages,
}

if __name__ == '__main__':
    sys.exit(main(TESTS))
