#!/usr/bin/python3
"""test_trust.py - trust-boundary checks.

* Secrets (the Redis password in the URL, the legacy hub token) never appear in the worker's
  log, in any message published on any channel, in any command a MONITOR sees (Redis redacts
  AUTH itself), or in any value the worker writes to Redis; not even when AUTH fails.
* `emp-worker --check-config` (and the worker at start) warns about a config file that holds a
  secret and is world-readable, without printing the secret.
* The worker process refuses a plugin file or directory writable by group/others (the unit
  tests are tests/loader test_writable_file / test_writable_dir / test_foreign_owner).
Backend secrets (ComfyUI/A1111 tokens and passwords) and input-URL rules are checked in
test_backends.py with the fake servers.
"""
import os
import secrets
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (Listener, Monitor, Worker, check, main, submit, wait_ready, wait_status,
                      wait_until)


def scan_redis(r, needles):
    """Every key and value in the database, searched for the needles. Returns the hits."""
    hits = []
    for key in r.scan_iter(count=1000):
        t = r.type(key)
        if t == b'string':
            vals = [r.get(key)]
        elif t == b'hash':
            vals = [x for kv in r.hgetall(key).items() for x in kv]
        elif t == b'set':
            vals = list(r.smembers(key))
        elif t == b'zset':
            vals = [m for m, _ in r.zrange(key, 0, -1, withscores=True)]
        elif t == b'list':
            vals = r.lrange(key, 0, -1)
        elif t == b'stream':
            vals = [x for _, f in r.xrange(key) for kv in f.items() for x in kv]
        else:
            vals = []
        for v in [key] + vals:
            for n in needles:
                if n in v:
                    hits.append((key, n))
    return hits


def assert_no_secret(ctx, what, data, needles):
    for n in needles:
        check(n not in data, 'the secret %r appears in %s' % (n, what))


def test_secret_redis_password(ctx):
    pw = 'Pw-' + secrets.token_hex(12)
    srv = ctx.start_redis(password=pw)
    r = srv.client()
    rb = srv.client(decode=False)
    mon = Monitor(srv)
    lst = Listener(srv, patterns=('*',), decode=False)
    w = wait_ready(r, Worker(ctx, 'trust-w1', redis_conf={'sweep_interval_ms': 200}).start())
    ids = [submit(r, payload={'delay_ms': 50, 'test_data': 'ok'}),
           submit(r, payload={'delay_ms': 0, 'fail_permanently': True}),
           submit(r, payload={'delay_ms': 0, 'should_fail': True})]
    for jid in ids:
        wait_status(r, jid, ('completed', 'failed'), 30)
    # the status command and --check-config read the same file
    st = subprocess.run([ctx.worker_bin, 'status', '--config', w.conf, '--gpu', '0'],
                        capture_output=True)
    cc = subprocess.run([ctx.worker_bin, '--check-config', '--config', w.conf, '--gpu', '0',
                         '--plugin-dir', ctx.plugin_dir], capture_output=True)
    w.stop_clean()
    needles = [pw.encode()]
    assert_no_secret(ctx, 'the worker log', w.log_bytes(), needles)
    assert_no_secret(ctx, 'emp-worker status output', st.stdout + st.stderr, needles)
    assert_no_secret(ctx, '--check-config output', cc.stdout + cc.stderr, needles)
    msgs = lst.all()
    check(len(msgs) > 10, 'messages were captured (%d)' % len(msgs))
    for _, ch, data in msgs:
        assert_no_secret(ctx, 'a message on %r' % ch, ch + b' ' + data, needles)
    mon_text = mon.text()
    check(b'"FCALL"' in mon_text or b'"fcall"' in mon_text, 'MONITOR captured the worker')
    assert_no_secret(ctx, 'the MONITOR capture', mon_text, needles)
    hits = scan_redis(rb, needles)
    check(not hits, 'the secret is stored in Redis: %r' % hits[:5])
    ctx.note('%d messages, %d bytes of MONITOR, %d log bytes scanned: no password', len(msgs),
             len(mon_text), len(w.log_bytes()))


def test_secret_wrong_password_not_logged(ctx):
    pw = 'Right-' + secrets.token_hex(8)
    wrong = 'Wrong-' + secrets.token_hex(8)
    srv = ctx.start_redis(password=pw)
    url = 'redis://:%s@127.0.0.1:%d' % (wrong, srv.port)
    w = Worker(ctx, 'trust-w2', url=url).start()
    w.wait_log(r'AUTH failed', 20, 'worker reports the AUTH failure')
    w.wait_log(r'retrying in', 20, 'and keeps retrying')
    w.stop_clean()
    assert_no_secret(ctx, 'the worker log', w.log_bytes(), [wrong.encode(), pw.encode()])
    ctx.note('log line: %s', [l for l in w.log().splitlines() if 'AUTH' in l][0][-120:])


def test_secret_legacy_token(ctx):
    """The legacy hub variables (WORKER_REDIS_API_HOST/PORT + WORKER_WEBSOCKET_AUTH_TOKEN) build
    the Redis URL. A token with URL-reserved characters must still authenticate, and it must
    not be logged."""
    token = 'T0k/en:%s@x%%41#?' % secrets.token_hex(6)
    srv = ctx.start_redis(password=token)
    r = srv.client()
    w = Worker(ctx, 'trust-w3', url='redis://127.0.0.1:1',
               env={'WORKER_REDIS_API_HOST': '127.0.0.1', 'WORKER_REDIS_API_PORT': str(srv.port),
                    'WORKER_WEBSOCKET_AUTH_TOKEN': token}).start()
    wait_ready(r, w, timeout=20)
    jid = submit(r, payload={'delay_ms': 0})
    wait_status(r, jid, 'completed', 30)
    w.stop_clean()
    assert_no_secret(ctx, 'the worker log', w.log_bytes(), [token.encode()])


def test_secret_in_url_query(ctx):
    """A password put in the URL's query (redis://host:port/0?password=...) is not understood:
    --check-config fails naming the problem, and neither it nor the worker's log prints the
    secret (the log shows the URL with the query masked). An unusable URL (http://) fails
    --check-config as well."""
    srv = ctx.start_redis()
    pw = 'Q-' + secrets.token_hex(8)
    w = Worker(ctx, 'trust-w6', url='redis://127.0.0.1:%d/0?password=%s' % (srv.port, pw))
    p = subprocess.run([ctx.worker_bin, '--check-config', '--config', w.conf, '--gpu', '0',
                        '--plugin-dir', ctx.plugin_dir], capture_output=True, text=True)
    out = p.stdout + p.stderr
    check(p.returncode == 1 and 'query parameters' in out, '--check-config refuses: %s' % out)
    check(pw not in out, 'the secret is not printed')
    w.start()
    w.wait_log(r'query parameters', 20, 'the worker logs why it cannot use the URL')
    w.stop(10)
    check(pw.encode() not in w.log_bytes(), 'the secret is not logged: %s' % w.log()[-800:])
    check('?***' in w.log(), 'the logged URL has its query masked')
    w2 = Worker(ctx, 'trust-w7', url='http://127.0.0.1:%d' % srv.port)
    p = subprocess.run([ctx.worker_bin, '--check-config', '--config', w2.conf, '--gpu', '0',
                        '--plugin-dir', ctx.plugin_dir], capture_output=True, text=True)
    check(p.returncode == 1 and 'Redis URL' in p.stderr, 'http:// refused: %s' % p.stderr)


def test_check_config_world_readable(ctx):
    """--check-config warns about a world-readable file holding a secret (the main file with a
    password in redis.url; a conf.d file with a token option), names the file, not the secret;
    the worker warns at start too; mode 0600 gives no warning."""
    srv = ctx.start_redis()
    pw = 'Sec-' + secrets.token_hex(8)
    w = Worker(ctx, 'trust-w4', url='redis://:%s@127.0.0.1:%d' % (pw, srv.port), file_mode=0o644)

    def check_config():
        p = subprocess.run([ctx.worker_bin, '--check-config', '--config', w.conf, '--gpu', '0',
                            '--plugin-dir', ctx.plugin_dir], capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr
    rc, out = check_config()
    check(rc == 0, '--check-config passes (warnings only): %s' % out)
    check('world-readable' in out and w.conf in out, 'warning names the main file: %s' % out)
    check(pw not in out, 'the warning does not print the secret')
    os.chmod(w.conf, 0o640)
    rc, out = check_config()
    check('world-readable' not in out, 'no warning at 0640: %s' % out)
    # a conf.d file holding a backend token
    comfy = os.path.join(ctx.plugin_dir, 'comfyui.so')
    if os.path.exists(comfy):
        p = os.path.join(w.dir, 'conf.d', 'comfyui.conf')
        with open(p, 'w') as f:
            f.write('connector = {\n  plugin = "comfyui";\n  enabled = true;\n'
                    '  options = { port = 1; token = "%s"; };\n};\n' % pw)
        os.chmod(p, 0o644)
        rc, out = check_config()
        check('world-readable' in out and p in out, 'warning names the conf.d file: %s' % out)
        check(pw not in out, 'the warning does not print the token')
        os.unlink(p)
    # the worker itself warns at start
    os.chmod(w.conf, 0o644)
    w.start()
    w.wait_log(r'world-readable', 20, 'the worker warns at start')
    w.stop_clean()
    check(pw.encode() not in w.log_bytes(), 'the secret is not logged')


def test_plugin_permissions_refused(ctx):
    """The worker refuses a plugin file writable by group (and a plugin directory writable by
    others), with the fix in the message, and does not start without a usable connector."""
    srv = ctx.start_redis()
    pdir = os.path.join(ctx.tmpdir, 'plugins')
    os.makedirs(pdir)
    os.chmod(pdir, 0o755)
    shutil.copy(os.path.join(ctx.plugin_dir, 'mock.so'), pdir)
    so = os.path.join(pdir, 'mock.so')
    os.chmod(so, 0o664)
    w = Worker(ctx, 'trust-w5')
    ctx.plugin_dir, saved = pdir, ctx.plugin_dir
    try:
        w.start()
        rc = w.wait_exit(30)
        check(rc != 0, 'worker refuses to start (rc %r)' % rc)
        check('writable by group or others' in w.log() and 'chmod go-w' in w.log(),
              'the reason and the fix are logged: %s' % w.log()[-600:])
        os.chmod(so, 0o644)
        os.chmod(pdir, 0o757)
        w.start()
        rc = w.wait_exit(30)
        check(rc != 0 and 'plugin directory is writable' in w.log(),
              'writable directory refused: %s' % w.log()[-600:])
        os.chmod(pdir, 0o755)
        w.start()
        wait_ready(srv.client(), w)
        w.stop_clean()
    finally:
        ctx.plugin_dir = saved


TESTS = {
    'trust_secret_redis_password': test_secret_redis_password,
    'trust_secret_wrong_password': test_secret_wrong_password_not_logged,
    'trust_secret_legacy_token': test_secret_legacy_token,
    'trust_secret_in_url_query': test_secret_in_url_query,
    'trust_check_config_world_readable': test_check_config_world_readable,
    'trust_plugin_permissions': test_plugin_permissions_refused,
}

if __name__ == '__main__':
    sys.exit(main(TESTS))
