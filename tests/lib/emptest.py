"""emptest.py - the generic pieces shared by the emp-worker Python test harnesses
(tests/redis/empq.py and tests/faults/faultlib.py).

* check() / wait_until() / TestFailure: assertions that survive python -O, polling with deadlines.
* iso_now() / iso_to_ms() / free_port().
* RedisServer: a private redis-server on 127.0.0.1 (a free port picked by binding port 0), in
  its own dir, stopped by PID. restart() keeps the port and the dir (for AOF tests).
* job_record() / submit_job() / submit_many(): jobs written exactly like the API's submitJob
  (hash fields, jobs:pending score, job_submitted message; emp-job-queue.md 2.1, 3.6, 5.2b).
* Listener: a pub/sub subscriber thread that records every message with its arrival time.
* commandstats() / stats_delta() / settled_commandstats(): INFO commandstats helpers.
* conf_value() / conf_group(): libconfig text for generated worker configs.
* ProcessMixin: pid / alive / signal / log / rss_kib for a process with a log file.

Only the standard library and python3-redis are used (run with /usr/bin/python3).
"""

import datetime
import json
import math
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import redis


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
    d = datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%S.%fZ').replace(
        tzinfo=datetime.timezone.utc)
    return int(round(d.timestamp() * 1000))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                     'SUMMARY: UndefinedBehaviorSanitizer')


# ------------------------------------------------------------------------------------------------
# redis-server
# ------------------------------------------------------------------------------------------------

class RedisServer:
    """A private redis-server under <tmpdir>/redis. extra_args: more command-line options;
    password: --requirepass (used by client() and url)."""

    def __init__(self, tmpdir, appendonly=False, password=None, extra_args=()):
        self.dir = os.path.join(tmpdir, 'redis')
        os.makedirs(self.dir, exist_ok=True)
        self.appendonly = appendonly
        self.password = password
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.log = os.path.join(self.dir, 'redis.log')
        self.stopped = False  # SIGSTOPped

    def _spawn(self):
        args = ['redis-server', '--bind', '127.0.0.1', '--port', str(self.port),
                '--dir', self.dir, '--save', '', '--daemonize', 'no', '--logfile', self.log,
                '--protected-mode', 'no', '--maxclients', '1000'] + self.extra_args + [
                '--appendonly', 'yes' if self.appendonly else 'no']
        if self.appendonly:
            args += ['--appendfsync', 'always']
        if self.password:
            args += ['--requirepass', self.password]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if self.client(timeout=1).ping():
                    return True
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):  # LOADING
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
        """SIGTERM by PID (SIGCONT first if SIGSTOPped; Redis flushes the AOF), then wait;
        SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if self.stopped:
                os.kill(self.proc.pid, signal.SIGCONT)
                self.stopped = False
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self._kill()
        self.proc = None

    @property
    def url(self):
        if self.password:
            return 'redis://:%s@127.0.0.1:%d' % (self.password, self.port)
        return 'redis://127.0.0.1:%d' % self.port

    def client(self, timeout=10, decode=True):
        return redis.Redis(host='127.0.0.1', port=self.port, password=self.password,
                           decode_responses=decode, socket_timeout=timeout)


# ------------------------------------------------------------------------------------------------
# INFO commandstats
# ------------------------------------------------------------------------------------------------

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
               max_retries=3, customer_id='', workflow=None, ctx=None, raw_payload=None,
               omit=(), extra=None, short_message=False):
    """(id, hash, score, job_submitted message) as the API's submitJob writes them (2.1, 3.6,
    5.2b).

    workflow: None or {'workflow_id', 'current_step', 'total_steps', 'workflow_priority',
    'workflow_datetime'}. raw_payload: write this text as the payload field verbatim.
    omit: hash fields to leave out; extra: fields to add or override (raw strings).
    short_message: a job_submitted message with only id, service, priority, status, times."""
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
    for k in omit:
        h.pop(k, None)
    h.update(extra or {})
    p = float(wf.get('workflow_priority') or priority or 50)
    t = float(wf.get('workflow_datetime') or iso_to_ms(created))
    score = p * 1e15 - math.floor(t / 1000)
    if short_message:
        msg = {'job_id': job_id, 'service_required': service, 'priority': priority,
               'status': 'pending', 'created_at': created, 'timestamp': int(time.time() * 1000)}
    else:
        msg = {
            'job_id': job_id, 'service_required': service, 'priority': priority or 50,
            'payload': payload if raw_payload is None else raw_payload,
            'requirements': requirements, 'customer_id': customer_id or None,
            'created_at': created, 'status': 'pending', 'timestamp': int(time.time() * 1000),
            'workflow_id': wf.get('workflow_id'), 'workflow_priority': wf.get('workflow_priority'),
            'workflow_datetime': wf.get('workflow_datetime'),
            'current_step': wf.get('current_step'), 'total_steps': wf.get('total_steps'),
        }
    return job_id, h, score, json.dumps(msg)


def write_job(r, record, publish=True):
    """HSET job:<id> (every field), ZADD jobs:pending, PUBLISH job_submitted on r (a client or
    a pipeline)."""
    job_id, h, score, msg = record
    r.hset('job:' + job_id, mapping=h)
    r.zadd('jobs:pending', {job_id: score})
    if publish:
        r.publish('job_submitted', msg)
    return job_id


def submit_many(r, records, publish=True, batch=200):
    """records: a list of job_record() results, written with pipelines (the API's commands)."""
    for i in range(0, len(records), batch):
        p = r.pipeline(transaction=False)
        for rec in records[i:i + batch]:
            write_job(p, rec, publish)
        p.execute()


# ------------------------------------------------------------------------------------------------
# pub/sub
# ------------------------------------------------------------------------------------------------

class Listener:
    """Subscribes to channels/patterns on its own connection; records (monotonic time, channel,
    data). json_objects: json() also requires every message to be a JSON object."""

    json_objects = False

    def __init__(self, server, channels=(), patterns=(), decode=True):
        self.r = server.client(decode=decode)
        self.ps = self.r.pubsub()
        if channels:
            self.ps.subscribe(*channels)
        if patterns:
            self.ps.psubscribe(*patterns)
        self.msgs = []
        self.lock = threading.Lock()
        self._stop = False
        # wait for the subscriptions to be active before anything is published
        n, got = len(channels) + len(patterns), 0
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

    def stop(self):
        if self._stop:
            return
        self._stop = True
        self.thread.join(2)
        try:
            self.ps.close()
        except Exception:
            pass

    close = stop

    def all(self, channel=None):
        with self.lock:
            return [(t, c, d) for (t, c, d) in self.msgs if channel is None or c == channel]

    def json(self, channel, pred=None):
        """Messages on `channel` decoded from JSON."""
        out = []
        for _, _, d in self.all(channel):
            try:
                j = json.loads(d)
            except ValueError:
                raise TestFailure('message on %s is not JSON: %r' % (channel, d[:200]))
            if self.json_objects:
                check(isinstance(j, dict),
                      'message on %s is a JSON object: %r' % (channel, d[:200]))
            if pred is None or pred(j):
                out.append(j)
        return out


# ------------------------------------------------------------------------------------------------
# worker configs and processes
# ------------------------------------------------------------------------------------------------

def conf_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, float)):
        return repr(v)
    return '"%s"' % str(v).replace('\\', '\\\\').replace('"', '\\"')


def conf_group(d, indent='  '):
    out = ''
    for k, v in d.items():
        if isinstance(v, dict):
            out += '%s%s = {\n%s%s};\n' % (indent, k, conf_group(v, indent + '  '), indent)
        else:
            out += '%s%s = %s;\n' % (indent, k, conf_value(v))
    return out


WORKER_ENV_DROP = ('JOURNAL_STREAM', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID')


def worker_env(drop=(), set_=None, extra=None):
    """os.environ without systemd's variables (and `drop`), plus set_, the sanitizer defaults,
    then extra."""
    env = {k: v for k, v in os.environ.items() if k not in WORKER_ENV_DROP + tuple(drop)}
    env.update(set_ or {})
    env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0:exitcode=99')
    env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1:exitcode=98')
    env.update(extra or {})
    return env


class ProcessMixin:
    """For objects with .proc (a Popen), .logpath and .worker_id."""

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        check(self.alive(), 'worker %s is running (to send it signal %d)' % (self.worker_id, sig))
        os.kill(self.proc.pid, sig)

    def log(self):
        try:
            with open(self.logpath, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def rss_kib(self):
        try:
            with open('/proc/%d/status' % self.proc.pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0
