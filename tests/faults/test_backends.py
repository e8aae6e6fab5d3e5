#!/usr/bin/python3
"""test_backends.py - backend faults end to end: emp-worker (with the comfyui or a1111 plugin)
on a real redis-server, the backend played by tests/fakes/fake_comfyui.py / fake_a1111.py with
their fault flags. Each test checks the job's outcome in Redis (exactly once, a reason when it
fails) and that the worker keeps running.

ComfyUI: server killed mid-job (the job is retried and completes on the restarted server),
hanging without answering (the job timeout interrupts it: failed with the timeout reason),
garbage and oversized frames (ignored), the WebSocket cut in the middle of a frame (through a
proxy; the plugin reconnects and finishes), token and basic-auth secrets never logged or
published, input-image URLs (http/https only, private/loopback refused unless
allow_private_input_urls), a backend URL inside the payload ignored.
A1111: server killed mid-job, hanging (timeout), a garbage 200 answer, --api-auth secrets,
a backend URL inside the payload ignored.
Skipped (exit 77) when the plugin is not built.
"""
import json
import os
import secrets
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (FakeBackend, Listener, TestSkip, Trap, Worker, WsCutProxy, check,
                      failure_reason, main, submit, wait_ready, wait_status, wait_until)

CHANNELS = ('complete_job', 'job_failed', 'update_job_progress')


def need(ctx, plugin):
    if not os.path.exists(os.path.join(ctx.plugin_dir, plugin + '.so')):
        raise TestSkip('%s.so is not built' % plugin)


def comfy_workflow(ctx, fixture='04_progress_flags'):
    p = os.path.join(ctx.src, 'tests', 'fakes', 'comfyui_fixtures', 'v0.3.64-a125cd84',
                     fixture + '.json')
    with open(p) as f:
        return json.load(f)['request']['prompt']


def once(r, lst, jid, status):
    st = r.hget('job:' + jid, 'status')
    check(st == status, 'job %s is %s, not %r (reason %r)' % (jid, status, st,
                                                            failure_reason(r, jid)))
    wait_until(lambda: lst.count('complete_job', jid) + lst.count('job_failed', jid), 5,
               'the outcome message of job %s' % jid)
    c = lst.count('complete_job', jid)
    f = len(lst.json('job_failed', lambda j: j.get('job_id') == jid))
    if status == 'completed':
        check(c == 1 and f == 0, 'one complete_job (%d) and no job_failed (%d)' % (c, f))
    else:
        check(f == 1 and c == 0, 'one job_failed (%d) and no complete_job (%d)' % (f, c))
        check(failure_reason(r, jid), 'a failure reason')
    for k in r.scan_iter('jobs:active:*'):
        check(r.hlen(k) == 0, '%s empty' % k)


def attempt_errors(r, jid):
    out = []
    for k in sorted(r.scan_iter('worker:failure:*step-id:%s:*' % jid)):
        out.append(json.loads(r.get(k)).get('error_message'))
    return out


def setup_comfy(ctx, fake_args, options=None, redis_conf=None, jobs_conf=None, port=None):
    need(ctx, 'comfyui')
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, CHANNELS)
    fake = FakeBackend(ctx, 'fake_comfyui.py', fake_args).start()
    opts = {'host': '127.0.0.1', 'port': port or fake.port}
    opts.update(options or {})
    w = Worker(ctx, 'be-comfy', connectors={'comfyui': opts}, redis_conf=redis_conf,
               jobs_conf=jobs_conf).start()
    wait_ready(r, w, timeout=60)
    wait_until(lambda: 'connector \'comfyui\' is ready' in w.log(), 30, 'comfyui ready')
    return srv, r, lst, fake, w


def setup_a1111(ctx, fake_args, options=None, jobs_conf=None):
    need(ctx, 'a1111')
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, CHANNELS)
    fake = FakeBackend(ctx, 'fake_a1111.py', fake_args).start()
    opts = {'host': '127.0.0.1', 'port': fake.port, 'poll_interval_ms': 100}
    opts.update(options or {})
    w = Worker(ctx, 'be-a1111', connectors={'a1111': opts}, jobs_conf=jobs_conf).start()
    wait_ready(r, w, timeout=60)
    wait_until(lambda: 'connector \'a1111\' is ready' in w.log(), 30, 'a1111 ready')
    return srv, r, lst, fake, w


SLOW_RETRY = {'retry_backoff_base_ms': 1500, 'retry_backoff_max_ms': 3000}


# ---------------------------------------------------------------------------------------------
# ComfyUI
# ---------------------------------------------------------------------------------------------

def test_comfyui_killed_mid_job(ctx):
    # the plugin waits reconnect_window_ms for a vanished server to come back: keep it short
    srv, r, lst, fake, w = setup_comfy(ctx, ['--scenario', 'progress', '--fault', 'kill_after=5'],
                                       options={'reconnect_window_ms': 1500},
                                       jobs_conf=SLOW_RETRY)
    jid = submit(r, service='comfyui', payload={'workflow': comfy_workflow(ctx)})
    wait_until(lambda: not fake.alive(), 30, 'the fake ComfyUI dies mid-job')
    wait_until(lambda: r.hget('job:' + jid, 'status') == 'pending', 60,
               'the job is given back for a retry')
    errs = attempt_errors(r, jid)
    ctx.note('attempt 1 failed: %r', errs)
    check(errs and errs[0], 'the failed attempt has a reason')
    fake.start(['--scenario', 'progress'])  # same port, no fault
    wait_status(r, jid, 'completed', 60)
    once(r, lst, jid, 'completed')
    check(r.hget('job:' + jid, 'retry_count') == '1', 'one retry')
    w.stop_clean()


def test_comfyui_hang_timeout(ctx):
    srv, r, lst, fake, w = setup_comfy(ctx, ['--scenario', 'progress', '--fault',
                                             'gap_after=3:600000'])
    jid = submit(r, service='comfyui', payload={'workflow': comfy_workflow(ctx)},
                 requirements={'timeout_minutes': 0.05}, max_retries=1)
    wait_status(r, jid, 'failed', 60)
    reason = failure_reason(r, jid)
    check('timeout' in reason.lower(), 'the reason is the timeout: %r' % reason)
    once(r, lst, jid, 'failed')
    log = fake.get('/__fake/log')
    check(any(e.get('path', '').startswith('/interrupt') for e in log if isinstance(e, dict)),
          'the plugin interrupted the hanging prompt')
    ctx.note('reason %r', reason)
    check(w.alive(), 'worker still running')
    w.stop_clean()


def test_comfyui_garbage_frames(ctx):
    srv, r, lst, fake, w = setup_comfy(ctx, ['--scenario', 'progress', '--fault', 'garbage',
                                             '--fault', 'oversized=3000000'])
    ids = [submit(r, service='comfyui', payload={'workflow': comfy_workflow(ctx)})
           for _ in range(2)]
    for jid in ids:
        wait_status(r, jid, ('completed', 'failed'), 60)
    for jid in ids:
        st = r.hget('job:' + jid, 'status')
        ctx.note('job with garbage + a 3 MB frame: %s %s', st, failure_reason(r, jid) or '')
        once(r, lst, jid, st)
    check(r.hget('job:' + ids[-1], 'status') == 'completed', 'garbage frames are ignored')
    w.stop_clean()


def test_comfyui_ws_cut_mid_frame(ctx):
    need(ctx, 'comfyui')
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, CHANNELS)
    fake = FakeBackend(ctx, 'fake_comfyui.py', ['--scenario', 'progress']).start()
    proxy = WsCutProxy(ctx, fake.port, cut_frame=6)
    w = Worker(ctx, 'be-comfy', connectors={'comfyui': {'host': '127.0.0.1',
                                                        'port': proxy.port}}).start()
    wait_ready(r, w, timeout=60)
    wait_until(lambda: 'connector \'comfyui\' is ready' in w.log(), 30, 'comfyui ready')
    jid = submit(r, service='comfyui', payload={'workflow': comfy_workflow(ctx)})
    wait_status(r, jid, 'completed', 60)
    check(proxy.cut_done, 'the WebSocket was cut mid-frame')
    check(proxy.ws_connections >= 2, 'the plugin reconnected (%d WebSocket connections)'
          % proxy.ws_connections)
    once(r, lst, jid, 'completed')
    w.stop_clean()


def test_comfyui_secrets(ctx):
    token = 'Tok-' + secrets.token_hex(10)
    srv, r, lst, fake, w = setup_comfy(ctx, ['--scenario', 'basic', '--require-token', token],
                                       options={'token': token})
    jid = submit(r, service='comfyui', payload={'workflow': comfy_workflow(ctx, '01_basic')})
    wait_status(r, jid, 'completed', 60)
    w.stop_clean()
    user, pw = 'user', 'Pw-' + secrets.token_hex(10)
    fake.stop()
    fake.start(['--scenario', 'basic', '--require-basic', '%s:%s' % (user, pw)])
    w2 = Worker(ctx, 'be-comfy2', connectors={'comfyui': {'host': '127.0.0.1', 'port': fake.port,
                                                          'username': user, 'password': pw}}
                ).start()
    wait_ready(r, w2, timeout=60)
    j2 = submit(r, service='comfyui', payload={'workflow': comfy_workflow(ctx, '01_basic')})
    wait_status(r, j2, 'completed', 60)
    w2.stop_clean()
    for wk in (w, w2):
        for s in (token, pw):
            check(s.encode() not in wk.log_bytes(), 'secret not in %s log' % wk.worker_id)
    for _, ch, d in lst.all():
        for s in (token, pw):
            check(s not in d, 'secret not in a %s message' % ch)
    for k in r.scan_iter('*'):
        if r.type(k) == 'string':
            check(token not in r.get(k) and pw not in r.get(k), 'secret not stored in %s' % k)


def test_comfyui_input_urls(ctx):
    srv, r, lst, fake, w = setup_comfy(ctx, ['--scenario', 'loadimage'])
    wf = comfy_workflow(ctx, '09b_loadimage')
    blob = 'http://127.0.0.1:%d/__fake/blob?size=200' % fake.port
    cases = [('file:///etc/passwd', 'http'), ('ftp://127.0.0.1/x.png', 'http'),
             ('gopher://127.0.0.1:70/x', 'http'), (blob, 'allow_private_input_urls'),
             ('http://[::1]:%d/__fake/blob' % fake.port, 'allow_private_input_urls'),
             ('http://10.1.2.3/x.png', 'allow_private_input_urls'),
             ('http://169.254.169.254/latest/meta-data', 'allow_private_input_urls')]
    for url, needle in cases:
        jid = submit(r, service='comfyui', payload={'workflow': wf, 'images': [
            {'name': 'in.png', 'image': url}]})
        wait_status(r, jid, 'failed', 60)
        reason = failure_reason(r, jid)
        check(needle in reason, '%s refused with a reason mentioning %r: %r' % (url, needle,
                                                                                 reason))
        check(r.hget('job:' + jid, 'retry_count') == '1', '%s: refused at once' % url)
    ctx.note('refused: %s', ', '.join(u.split('/')[0] + '//' + u.split('/')[2] for u, _ in cases))
    w.stop_clean()
    w2 = Worker(ctx, 'be-comfy2', connectors={'comfyui': {
        'host': '127.0.0.1', 'port': fake.port, 'allow_private_input_urls': True}}).start()
    wait_ready(r, w2, timeout=60)
    jid = submit(r, service='comfyui', payload={'workflow': wf, 'images': [
        {'name': 'in.png', 'image': blob}]})
    wait_status(r, jid, 'completed', 60)
    log = fake.get('/__fake/log')
    check(any(isinstance(e, dict) and e.get('path', '').startswith('/upload/image') for e in log),
          'with allow_private_input_urls the image is fetched and uploaded')
    w2.stop_clean()


def test_comfyui_bad_payload(ctx):
    """Payloads the ComfyUI plugin cannot use fail permanently at the first attempt with a
    bad-input reason, and ComfyUI never sees a prompt: not JSON, not an object, a workflow
    that is not an object or has no nodes, and JSON that cJSON refuses although it is
    well-formed text (a lone UTF-16 surrogate escape, found by fuzz_comfyui_payload)."""
    srv, r, lst, fake, w = setup_comfy(ctx, ['--scenario', 'basic'])
    wf = json.dumps(comfy_workflow(ctx, '01_basic'))
    cases = ['{"workflow": ', '[1, 2]', '"x"', '{"workflow": [1]}', '{"workflow": {}}',
             '{"workflow": %s, "note": "\\ud800"}' % wf,
             '{"workflow": %s, "\\udc00x": 1}' % wf]
    ids = [submit(r, service='comfyui', raw_payload=c) for c in cases]
    for c, jid in zip(cases, ids):
        wait_status(r, jid, 'failed', 60)
        reason = failure_reason(r, jid)
        check(r.hget('job:' + jid, 'retry_count') == '1',
              'payload %r failed at the first attempt (retry_count %s, reason %r)'
              % (c[:40], r.hget('job:' + jid, 'retry_count'), reason))
        ctx.note('%-30r -> %s', c[:30], reason)
    log = fake.get('/__fake/log')
    check(not any(isinstance(e, dict) and e.get('method') == 'POST' and
                  e.get('path', '').startswith('/prompt') for e in log),
          'ComfyUI never received a prompt')
    ok = submit(r, service='comfyui', payload={'workflow': comfy_workflow(ctx, '01_basic')})
    wait_status(r, ok, 'completed', 60)
    w.stop_clean()


def test_comfyui_backend_url_in_payload(ctx):
    srv, r, lst, fake, w = setup_comfy(ctx, ['--scenario', 'basic'])
    trap = Trap(ctx)
    t = 'http://127.0.0.1:%d' % trap.port
    jid = submit(r, service='comfyui', payload={
        'workflow': comfy_workflow(ctx, '01_basic'), 'host': '127.0.0.1', 'port': trap.port,
        'url': t, 'base_url': t, 'comfyui_url': t, 'server': '127.0.0.1:%d' % trap.port,
        'server_address': '127.0.0.1:%d' % trap.port, 'ws_url': 'ws://127.0.0.1:%d/ws' % trap.port,
        'extra_data': {'host': t}})
    wait_status(r, jid, 'completed', 60)
    check(trap.hits == 0, 'the URL in the payload was never contacted (%d)' % trap.hits)
    w.stop_clean()


# ---------------------------------------------------------------------------------------------
# A1111
# ---------------------------------------------------------------------------------------------

def test_a1111_killed_mid_job(ctx):
    srv, r, lst, fake, w = setup_a1111(ctx, ['--step-ms', '100'], jobs_conf=SLOW_RETRY)
    jid = submit(r, service='a1111', payload={'prompt': 'a cat', 'steps': 30})
    wait_until(lambda: lst.json('update_job_progress', lambda j: j.get('job_id') == jid and
                                j.get('progress', 0) > 0), 30, 'generation under way')
    fake.kill9()
    wait_until(lambda: r.hget('job:' + jid, 'status') == 'pending', 60, 'job given back')
    errs = attempt_errors(r, jid)
    ctx.note('attempt 1 failed: %r', errs)
    check(errs and errs[0], 'the failed attempt has a reason')
    fake.start(['--step-ms', '5'])
    wait_status(r, jid, 'completed', 60)
    once(r, lst, jid, 'completed')
    w.stop_clean()


def test_a1111_hang_timeout(ctx):
    # the plugin waits interrupt_wait_ms for A1111 to return after the interrupt (then lets go
    # of the request); the host's cancel grace must be longer (defaults 8 s and 10 s)
    srv, r, lst, fake, w = setup_a1111(ctx, ['--step-ms', '600000'],
                                       options={'interrupt_wait_ms': 1000},
                                       jobs_conf={'cancel_grace_s': 10})
    jid = submit(r, service='a1111', payload={'prompt': 'a cat', 'steps': 20},
                 requirements={'timeout_minutes': 0.05}, max_retries=1)
    wait_status(r, jid, 'failed', 90)
    reason = failure_reason(r, jid)
    check('timeout' in reason.lower(), 'the reason is the timeout: %r' % reason)
    once(r, lst, jid, 'failed')
    st = fake.get('/fake/state')
    check(st.get('interrupts', 0) >= 1, 'the plugin interrupted the hanging generation: %r' % st)
    check(w.alive(), 'worker still running')
    ctx.note('reason %r', reason)
    w.stop_clean()


def test_a1111_hang_plugin_stuck(ctx):
    """The backend hangs and the plugin outlasts the host's cancel grace (interrupt_wait_ms
    8 s > cancel_grace_s 2 s): the host fails the job (retryable) and exits 3 so that systemd
    restarts it clean; the job ends exactly once and nothing stays active."""
    srv, r, lst, fake, w = setup_a1111(ctx, ['--step-ms', '600000'],
                                       options={'interrupt_wait_ms': 8000},
                                       jobs_conf={'cancel_grace_s': 2})
    jid = submit(r, service='a1111', payload={'prompt': 'a cat', 'steps': 20},
                 requirements={'timeout_minutes': 0.05}, max_retries=1)
    rc = w.wait_exit(60)
    check(rc == 3, 'the worker exits 3 (got %r)' % rc)
    wait_status(r, jid, 'failed', 10)
    reason = failure_reason(r, jid)
    check('did not stop' in reason, 'reason: %r' % reason)
    once(r, lst, jid, 'failed')
    ctx.note('worker exit 3; reason %r', reason)
    check(w.sanitizer_report() is None, 'no sanitizer report')


def test_a1111_garbage_answer(ctx):
    srv, r, lst, fake, w = setup_a1111(ctx, ['--step-ms', '5'], jobs_conf=SLOW_RETRY)
    fake.get('/fake/config', 'POST', json.dumps({'raw_next': {
        'status': 200, 'body': '{"images": [5, "%%%"], "info": {"garbage',
        'content_type': 'application/json'}}).encode())
    jid = submit(r, service='a1111', payload={'prompt': 'a cat', 'steps': 3})
    wait_status(r, jid, 'completed', 60)
    errs = attempt_errors(r, jid)
    ctx.note('garbage answer -> attempt 1 failed %r, then completed', errs)
    check(errs and errs[0], 'the garbage answer failed the first attempt with a reason')
    once(r, lst, jid, 'completed')
    w.stop_clean()


def test_a1111_secrets(ctx):
    pw = 'Pw-' + secrets.token_hex(10)
    srv, r, lst, fake, w = setup_a1111(ctx, ['--step-ms', '5', '--api-auth', 'u:' + pw],
                                       options={'username': 'u', 'password': pw})
    jid = submit(r, service='a1111', payload={'prompt': 'a cat', 'steps': 3})
    wait_status(r, jid, 'completed', 60)
    w.stop_clean()
    check(pw.encode() not in w.log_bytes(), 'password not logged')
    for _, ch, d in lst.all():
        check(pw not in d, 'password not in a %s message' % ch)


def test_a1111_backend_url_in_payload(ctx):
    srv, r, lst, fake, w = setup_a1111(ctx, ['--step-ms', '5'])
    trap = Trap(ctx)
    t = 'http://127.0.0.1:%d' % trap.port
    jid = submit(r, service='a1111', payload={'prompt': 'a cat', 'steps': 3, 'host': '127.0.0.1',
                                              'port': trap.port, 'url': t, 'base_url': t,
                                              'a1111_url': t, 'api_url': t})
    wait_status(r, jid, 'completed', 60)
    check(trap.hits == 0, 'the URL in the payload was never contacted')
    w.stop_clean()


TESTS = {
    'backend_comfyui_killed_mid_job': test_comfyui_killed_mid_job,
    'backend_comfyui_hang_timeout': test_comfyui_hang_timeout,
    'backend_comfyui_garbage_frames': test_comfyui_garbage_frames,
    'backend_comfyui_ws_cut_mid_frame': test_comfyui_ws_cut_mid_frame,
    'backend_comfyui_secrets': test_comfyui_secrets,
    'backend_comfyui_input_urls': test_comfyui_input_urls,
    'backend_comfyui_bad_payload': test_comfyui_bad_payload,
    'backend_comfyui_url_in_payload': test_comfyui_backend_url_in_payload,
    'backend_a1111_killed_mid_job': test_a1111_killed_mid_job,
    'backend_a1111_hang_timeout': test_a1111_hang_timeout,
    'backend_a1111_hang_plugin_stuck': test_a1111_hang_plugin_stuck,
    'backend_a1111_garbage_answer': test_a1111_garbage_answer,
    'backend_a1111_secrets': test_a1111_secrets,
    'backend_a1111_url_in_payload': test_a1111_backend_url_in_payload,
}

if __name__ == '__main__':
    sys.exit(main(TESTS))
