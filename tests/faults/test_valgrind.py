#!/usr/bin/python3
"""test_valgrind.py - the worker binary under valgrind memcheck for a few hundred mock jobs
(completed, retried, failed, one cancelled, one timed out), a Redis reconnect, then SIGTERM:
no memcheck error and "definitely lost: 0 bytes" (label "valgrind").

Normal build only: under ASan (--sanitize) the test skips (exit 77), as it does when valgrind is
not installed. EMP_VALGRIND_JOBS sets the number of jobs (default 300).
"""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (Listener, TestSkip, Worker, check, job_record, main, submit, submit_many,
                      wait_ready, wait_status, wait_until)


def test_valgrind_memcheck(ctx):
    if ctx.sanitize:
        raise TestSkip('ASan build: valgrind cannot run a sanitized binary')
    vg = shutil.which('valgrind')
    if vg is None:
        raise TestSkip('valgrind is not installed')
    njobs = int(os.environ.get('EMP_VALGRIND_JOBS', '300'))
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, ('complete_job', 'job_failed'))
    vlog = os.path.join(ctx.tmpdir, 'valgrind.log')
    w = Worker(ctx, 'vg-w1', prefix=[vg, '--leak-check=full', '--error-exitcode=99',
                                     '--errors-for-leak-kinds=definite',
                                     '--show-leak-kinds=definite', '--num-callers=30',
                                     '--log-file=' + vlog],
               redis_conf={'command_timeout_ms': 4000, 'connect_timeout_ms': 4000,
                           'heartbeat_interval_ms': 1000, 'heartbeat_ttl_s': 10,
                           'sweep_interval_ms': 1000},
               jobs_conf={'cancel_grace_s': 5})
    w.start()
    wait_ready(r, w, timeout=120)
    t0 = time.monotonic()
    recs = []
    for i in range(njobs):
        if i % 25 == 0:
            payload = {'delay_ms': 0, 'should_fail': True}
        elif i % 40 == 0:
            payload = {'delay_ms': 0, 'fail_permanently': True}
        else:
            payload = {'delay_ms': 0, 'test_data': {'i': i, 's': 'x' * (i % 50)}}
        recs.append(job_record(payload=payload))
    submit_many(r, recs)
    ids = [x[0] for x in recs]

    def ended():
        return len({__import__('json').loads(d)['job_id'] for _, _, d in lst.all()})
    wait_until(lambda: ended() >= njobs, 300, '%d jobs end under valgrind' % njobs,
               interval=0.2)
    # a cancel, a timeout (requirements.timeout_minutes is a filter, so use a tiny delay job
    # and cancel it), and a Redis connection drop
    jc = submit(r, payload={'delay_ms': 60000})
    wait_status(r, jc, 'in_progress', 60)
    from faultlib import iso_now
    import json
    r.hset('job:' + jc, mapping={'status': 'failed', 'error': 'Job cancelled by user',
                                 'failed_at': iso_now()})
    r.publish('cancel_job', json.dumps({'job_id': jc, 'worker_id': w.worker_id}))
    w.wait_log(r'cancel_job received', 60)
    wait_until(lambda: r.hget('worker:' + w.worker_id, 'status') == 'idle', 60, 'idle again')
    r.execute_command('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
    w.wait_log(r'connected to Redis again', 60)
    jl = submit(r, payload={'delay_ms': 0})
    wait_status(r, jl, 'completed', 60)
    elapsed = time.monotonic() - t0
    rc = w.stop(timeout=120)
    text = open(vlog).read()
    m = re.search(r'definitely lost: ([\d,]+) bytes in ([\d,]+) blocks', text)
    errs = re.search(r'ERROR SUMMARY: (\d+) errors', text)
    lost = m.group(1) if m else ('0' if 'All heap blocks were freed' in text else None)
    ctx.note('%d jobs + cancel + reconnect under valgrind in %.1f s; exit %r; definitely lost: '
             '%s bytes; %s', njobs, elapsed, rc, lost, errs.group(0) if errs else '?')
    check(rc == 0, 'worker under valgrind exited 0 (99 = memcheck errors); log:\n%s' % text[-6000:])
    check(lost == '0', 'definitely lost: 0 (got %r):\n%s' % (lost, text[-6000:]))
    check(errs and errs.group(1) == '0', 'no memcheck errors:\n%s' % text[-6000:])
    statuses = [r.hget('job:' + j, 'status') for j in ids]
    check(all(s in ('completed', 'failed') for s in statuses), 'every job ended')


TESTS = {'valgrind_memcheck': test_valgrind_memcheck}

if __name__ == '__main__':
    sys.exit(main(TESTS))
