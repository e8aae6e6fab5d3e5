"""empq.py - helpers for the emp-worker Redis integration tests (tests/redis/test_redis.py).

* RedisServer: a private redis-server on 127.0.0.1 (a free port picked by binding port 0), in
  its own temp dir, stopped by PID. restart() keeps the port and the dir (for AOF tests).
* Worker: one emp-worker process with a generated worker.conf + conf.d/mock.conf, its output
  captured to a file, stopped by PID.
* submit_job(): writes a job exactly like the API's submitJob (emp-job-queue.md 2.1, 3.6, 5.2b).
* Listener: a pub/sub subscriber thread that records every message with its arrival time.
* wait_until(): poll a condition until a deadline (tests never sleep a fixed amount).
* commandstats(): INFO commandstats as {command: calls}.

Only the standard library and python3-redis are used (run with /usr/bin/python3).
"""

import datetime
import json
import math
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import redis

ISO_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
SEC_MICRO_RE = re.compile(r'^\d{10}\.\d{6}$')


class TestFailure(Exception):
    pass


def check(cond, what):
    """Assert with a message (assert statements vanish under python -O)."""
    if not cond:
        raise TestFailure(what)


def wait_until(pred, timeout, what, interval=0.01):
    """Poll pred() until it returns a truthy value; return that value, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TestFailure('timed out after %.1f s waiting for: %s' % (timeout, what))
        time.sleep(interval)


def iso_now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (now.microsecond // 1000)


def iso_to_ms(s):
    d = datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc)
    return int(round(d.timestamp() * 1000))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------------------------------------
# redis-server
# ------------------------------------------------------------------------------------------------

class RedisServer:
    def __init__(self, tmpdir, appendonly=False):
        self.dir = os.path.join(tmpdir, 'redis')
        os.makedirs(self.dir, exist_ok=True)
        self.appendonly = appendonly
        self.port = None
        self.proc = None
        self.log = os.path.join(self.dir, 'redis.log')

    def _spawn(self):
        args = ['redis-server', '--bind', '127.0.0.1', '--port', str(self.port),
                '--dir', self.dir, '--save', '', '--daemonize', 'no', '--logfile', self.log,
                '--protected-mode', 'no', '--maxclients', '1000',
                '--appendonly', 'yes' if self.appendonly else 'no']
        if self.appendonly:
            args += ['--appendfsync', 'always']
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if redis.Redis(host='127.0.0.1', port=self.port, socket_timeout=1).ping():
                    return True
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            except redis.ResponseError:  # LOADING
                pass
            time.sleep(0.01)
        return False

    def start(self):
        for _ in range(20):
            self.port = free_port()
            if self._spawn():
                return self
            self._kill()
        raise TestFailure('cannot start redis-server (see %s)' % self.log)

    def restart(self):
        """Start again on the same port and dir (after stop())."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._spawn():
                return self
            self._kill()
            time.sleep(0.05)
        raise TestFailure('cannot restart redis-server on port %d (see %s)' % (self.port, self.log))

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self):
        """SIGTERM by PID (Redis flushes the AOF), then wait; SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self._kill()
        self.proc = None

    @property
    def url(self):
        return 'redis://127.0.0.1:%d' % self.port

    def client(self):
        return redis.Redis(host='127.0.0.1', port=self.port, decode_responses=True,
                           socket_timeout=10)


def commandstats(r):
    """INFO commandstats -> {command: calls} (names as Redis reports them, e.g. 'fcall')."""
    out = {}
    for k, v in r.info('commandstats').items():
        name = k[len('cmdstat_'):] if k.startswith('cmdstat_') else k
        out[name] = int(v['calls'])
    return out


def stats_delta(before, after):
    d = {}
    for k, v in after.items():
        n = v - before.get(k, 0)
        if n:
            d[k] = n
    return d


def settled_commandstats(r, quiet_s=0.3, timeout=10.0):
    """Read commandstats until two reads quiet_s apart differ only by our own INFO call."""
    prev = commandstats(r)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        cur = commandstats(r)
        d = stats_delta(prev, cur)
        d.pop('info', None)
        if not d:
            return cur
        prev = cur
    raise TestFailure('Redis never went quiet (commands still running after %.0f s)' % timeout)


# ------------------------------------------------------------------------------------------------
# jobs, the API way
# ------------------------------------------------------------------------------------------------

JOB_FIELDS = ['id', 'service_required', 'priority', 'payload', 'requirements', 'customer_id',
              'created_at', 'status', 'retry_count', 'max_retries', 'workflow_id',
              'workflow_priority', 'workflow_datetime', 'current_step', 'total_steps',
              'job_trace_id', 'job_span_id', 'workflow_trace_id', 'workflow_span_id', 'ctx']


def job_record(payload=None, service='mock', priority=50, requirements=None, job_id=None,
               max_retries=3, customer_id='', workflow=None, ctx=None, raw_payload=None):
    """The hash the API writes (2.1), plus the job_submitted message (5.2b), plus the score.

    workflow: None or {'workflow_id', 'current_step', 'total_steps', 'workflow_priority',
    'workflow_datetime'}. raw_payload: write this text as the payload field verbatim."""
    job_id = job_id or str(uuid.uuid4())
    created = iso_now()
    wf = workflow or {}
    h = {
        'id': job_id,
        'service_required': service,
        'priority': str(priority or 50),
        'payload': raw_payload if raw_payload is not None else json.dumps(payload or {}),
        'requirements': json.dumps(requirements) if requirements is not None else '',
        'customer_id': customer_id or '',
        'created_at': created,
        'status': 'pending',
        'retry_count': '0',
        'max_retries': str(max_retries or 3),
        'workflow_id': wf.get('workflow_id', ''),
        'workflow_priority': str(wf.get('workflow_priority', '')),
        'workflow_datetime': str(wf.get('workflow_datetime', '')),
        'current_step': str(wf.get('current_step', '')),
        'total_steps': str(wf.get('total_steps', '')),
        'job_trace_id': 'temp-trace-id',
        'job_span_id': 'temp-span-id',
        'workflow_trace_id': 'temp-trace-id' if wf else '',
        'workflow_span_id': 'temp-span-id' if wf else '',
        'ctx': json.dumps(ctx) if ctx is not None else '',
    }
    p = float(wf.get('workflow_priority') or priority or 50)
    t = float(wf.get('workflow_datetime') or iso_to_ms(created))
    score = p * 1e15 - math.floor(t / 1000)
    msg = {
        'job_id': job_id, 'service_required': service, 'priority': priority or 50,
        'payload': payload if raw_payload is None else raw_payload,
        'requirements': requirements, 'customer_id': customer_id or None,
        'created_at': created, 'status': 'pending', 'timestamp': int(time.time() * 1000),
        'workflow_id': wf.get('workflow_id'), 'workflow_priority': wf.get('workflow_priority'),
        'workflow_datetime': wf.get('workflow_datetime'), 'current_step': wf.get('current_step'),
        'total_steps': wf.get('total_steps'),
    }
    return job_id, h, score, json.dumps(msg)


def submit_job(r, publish=True, **kw):
    """HSET job:<id> (every field), ZADD jobs:pending, PUBLISH job_submitted. Returns the id."""
    job_id, h, score, msg = job_record(**kw)
    r.hset('job:' + job_id, mapping=h)
    r.zadd('jobs:pending', {job_id: score})
    if publish:
        r.publish('job_submitted', msg)
    return job_id


def submit_many(r, records, publish=True, batch=200):
    """records: a list of job_record() results, written with pipelines (the API's commands)."""
    for i in range(0, len(records), batch):
        p = r.pipeline(transaction=False)
        for job_id, h, score, msg in records[i:i + batch]:
            p.hset('job:' + job_id, mapping=h)
            p.zadd('jobs:pending', {job_id: score})
            if publish:
                p.publish('job_submitted', msg)
        p.execute()


def api_cancel(r, job_id):
    """The API's cancel: status failed + error + failed_at, jobs:failed, PUBLISH cancel_job."""
    now = iso_now()
    wid = r.hget('job:' + job_id, 'worker_id') or ''
    rc = int(r.hget('job:' + job_id, 'retry_count') or 0)
    r.hset('job:' + job_id, mapping={'status': 'failed', 'error': 'Job cancelled by user',
                                     'failed_at': now})
    r.hset('jobs:failed', job_id, json.dumps({'error': 'Job cancelled by user', 'failed_at': now,
                                              'retry_count': rc, 'cancelled': True}))
    r.expire('jobs:failed', 604800)
    r.publish('cancel_job', json.dumps({'job_id': job_id, 'worker_id': wid}))
    return wid


def attest_key(kind, job_id, suffix, workflow_id=''):
    step = job_id[5:] if job_id.startswith('step-') else job_id
    k = 'worker:%s:' % kind
    if workflow_id:
        k += 'job-id:%s:' % workflow_id
    return k + 'step-id:' + step + suffix


# ------------------------------------------------------------------------------------------------
# pub/sub
# ------------------------------------------------------------------------------------------------

class Listener:
    """Subscribes to channels/patterns on its own connection; records (t, channel, data)."""

    def __init__(self, server, channels=(), patterns=()):
        self.r = server.client()
        self.ps = self.r.pubsub()
        if channels:
            self.ps.subscribe(*channels)
        if patterns:
            self.ps.psubscribe(*patterns)
        self.msgs = []
        self.lock = threading.Lock()
        self._stop = False
        # wait for the subscriptions to be active before anything is published
        n = len(channels) + len(patterns)
        got = 0
        deadline = time.monotonic() + 5
        while got < n and time.monotonic() < deadline:
            m = self.ps.get_message(timeout=0.5)
            if m and m['type'] in ('subscribe', 'psubscribe'):
                got += 1
        check(got == n, 'pub/sub subscriptions confirmed (%d of %d)' % (got, n))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                m = self.ps.get_message(timeout=0.1)
            except Exception:  # the server went away (restart tests): keep the loop alive
                time.sleep(0.05)
                continue
            if m and m['type'] in ('message', 'pmessage'):
                with self.lock:
                    self.msgs.append((time.monotonic(), m['channel'], m['data']))

    def close(self):
        self._stop = True
        self.thread.join(2)
        try:
            self.ps.close()
        except Exception:
            pass

    def all(self, channel=None):
        with self.lock:
            return [(t, c, d) for (t, c, d) in self.msgs if channel is None or c == channel]

    def json(self, channel, pred=None):
        """Messages on `channel` decoded from JSON (each must be a JSON object)."""
        out = []
        for _, _, d in self.all(channel):
            j = json.loads(d)
            check(isinstance(j, dict), 'message on %s is a JSON object: %r' % (channel, d[:200]))
            if pred is None or pred(j):
                out.append(j)
        return out

    def wait(self, channel, pred, timeout, what, count=1):
        return wait_until(lambda: len(self.json(channel, pred)) >= count and self.json(channel, pred),
                          timeout, what)


# ------------------------------------------------------------------------------------------------
# emp-worker processes
# ------------------------------------------------------------------------------------------------

DEFAULT_REDIS_CONF = {
    'connect_timeout_ms': 2000,
    'command_timeout_ms': 5000,
    'load_function': True,
    'max_scan': 100,
    'fallback_poll_ms': 1000,
    'wake_jitter_ms': 10,
    'heartbeat_interval_ms': 500,
    'heartbeat_ttl_s': 2,
    'sweep_interval_ms': 500,
}
DEFAULT_JOBS_CONF = {
    'timeout_minutes': 30,
    'shutdown_grace_s': 1,
    'cancel_grace_s': 3,
    'progress_interval_ms': 0,
    'retry_backoff_base_ms': 200,
    'retry_backoff_max_ms': 1000,
}


def _conf_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, float)):
        return repr(v)
    return '"%s"' % str(v).replace('\\', '\\\\').replace('"', '\\"')


def _group(d):
    return ''.join('  %s = %s;\n' % (k, _conf_value(v)) for k, v in d.items())


class Worker:
    """One emp-worker process (GPU 0) with its own config dir under tmpdir/workers/<wid>."""

    def __init__(self, ctx, worker_id, machine_id='testmachine', redis_conf=None, jobs_conf=None,
                 env=None, mock_options=None, log_level='info'):
        self.ctx = ctx
        self.worker_id = worker_id
        self.machine_id = machine_id
        self.dir = os.path.join(ctx.tmpdir, 'workers', worker_id)
        os.makedirs(os.path.join(self.dir, 'conf.d'), exist_ok=True)
        rc = dict(DEFAULT_REDIS_CONF)
        rc.update(redis_conf or {})
        jc = dict(DEFAULT_JOBS_CONF)
        jc.update(jobs_conf or {})
        self.redis_conf, self.jobs_conf = rc, jc
        self.conf = os.path.join(self.dir, 'worker.conf')
        with open(self.conf, 'w') as f:
            f.write('worker = {\n  conf_dir = "conf.d";\n  log_level = "%s";\n};\n' % log_level)
            f.write('redis = {\n  url = "redis://127.0.0.1:1";\n%s};\n' % _group(rc))
            f.write('jobs = {\n%s};\n' % _group(jc))
            f.write('gpus = ( { index = 0; } );\n')
        with open(os.path.join(self.dir, 'conf.d', 'mock.conf'), 'w') as f:
            f.write('connector = {\n  plugin = "mock";\n  enabled = true;\n  options = {\n%s  };\n};\n'
                    % ''.join('    %s = %s;\n' % (k, _conf_value(v))
                              for k, v in (mock_options or {}).items()))
        self.env = env or {}
        self.proc = None
        self.logpath = os.path.join(self.dir, 'worker.log')
        self.starts = 0

    def start(self):
        env = {k: v for k, v in os.environ.items() if k not in ('JOURNAL_STREAM', 'NOTIFY_SOCKET',
                                                                'WATCHDOG_USEC', 'WATCHDOG_PID')}
        env.update({'HUB_REDIS_URL': self.ctx.redis.url, 'WORKER_ID': self.worker_id,
                    'MACHINE_ID': self.machine_id})
        env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0:exitcode=99')
        env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1:exitcode=98')
        env.update(self.env)
        self.starts += 1
        log = open(self.logpath, 'a')
        log.write('===== start #%d =====\n' % self.starts)
        log.flush()
        self.proc = subprocess.Popen([self.ctx.worker_bin, '--config', self.conf, '--gpu', '0',
                                      '--plugin-dir', self.ctx.plugin_dir],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     env=env)
        log.close()
        self.ctx.track(self)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        check(self.alive(), 'worker %s is running (to send it signal %d)' % (self.worker_id, sig))
        os.kill(self.proc.pid, sig)

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(10)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure('worker %s did not exit within %.0f s' % (self.worker_id, timeout))

    def stop(self, timeout=15):
        """SIGTERM by PID (SIGCONT first in case it is stopped); SIGKILL if it does not exit."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        try:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None

    def log(self):
        try:
            with open(self.logpath, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def wait_log(self, pattern, timeout, what=None):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()), timeout,
                          what or 'worker %s logs /%s/' % (self.worker_id, pattern), interval=0.02)

    def sanitizer_report(self):
        text = self.log()
        for marker in ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                       'SUMMARY: UndefinedBehaviorSanitizer'):
            if marker in text:
                return marker
        return None

    def rss_kib(self):
        try:
            with open('/proc/%d/status' % self.proc.pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0


def wait_registered(r, worker_ids, timeout, unified=False):
    """Every worker is up: its heartbeat key exists, and (non-unified) it is registered idle."""
    def ok():
        p = r.pipeline(transaction=False)
        for w in worker_ids:
            p.exists('worker:%s:heartbeat' % w)
            p.hget('worker:%s' % w, 'status')
            p.sismember('workers:active', w)
        res = p.execute()
        for i in range(len(worker_ids)):
            hb, status, member = res[3 * i:3 * i + 3]
            if not hb:
                return False
            if not unified and (status != 'idle' or not member):
                return False
        return True
    wait_until(ok, timeout, 'workers registered and idle: %s%s' %
               (', '.join(worker_ids[:5]), '...' if len(worker_ids) > 5 else ''), interval=0.05)


class Monitor:
    """MONITOR on a raw socket: records {'t', 'source' ('lua' or 'ip:port'), 'cmd'} per command."""

    LINE_RE = re.compile(r'^\+(\d+\.\d+) \[\d+ ([^\]]+)\] "([^"]*)"')

    def __init__(self, server):
        self.sock = socket.create_connection(('127.0.0.1', server.port), timeout=5)
        self.sock.sendall(b'MONITOR\r\n')
        self.buf = b''
        first = self._line()
        check(first == '+OK', 'MONITOR started (%r)' % first)
        self.sock.settimeout(0.1)
        self.lines = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _line(self):
        while b'\r\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line.decode('utf-8', 'replace')

    def _run(self):
        while not self._stop:
            try:
                line = self._line()
            except socket.timeout:
                continue
            except (OSError, EOFError):
                return
            m = self.LINE_RE.match(line)
            if m:
                self.lines.append({'t': float(m.group(1)), 'source': m.group(2),
                                   'cmd': m.group(3).upper()})

    def stop(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()
        return self.lines
