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

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib'))
import emptest  # noqa: E402
from emptest import (JOB_FIELDS, TestFailure, check, commandstats, free_port,  # noqa: E402,F401
                     iso_now, iso_to_ms, job_record, settled_commandstats, stats_delta,
                     submit_many, wait_until)

ISO_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
SEC_MICRO_RE = re.compile(r'^\d{10}\.\d{6}$')


# ------------------------------------------------------------------------------------------------
# redis-server
# ------------------------------------------------------------------------------------------------

class RedisServer(emptest.RedisServer):
    def __init__(self, tmpdir, appendonly=False):
        super().__init__(tmpdir, appendonly=appendonly)


# ------------------------------------------------------------------------------------------------
# jobs, the API way
# ------------------------------------------------------------------------------------------------

def submit_job(r, publish=True, **kw):
    """HSET job:<id> (every field), ZADD jobs:pending, PUBLISH job_submitted. Returns the id."""
    return emptest.write_job(r, job_record(**kw), publish)


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

class Listener(emptest.Listener):
    """Subscribes to channels/patterns on its own connection; records (t, channel, data)."""

    json_objects = True

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


_conf_value = emptest.conf_value
_group = emptest.conf_group


class Worker(emptest.ProcessMixin):
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
        env = emptest.worker_env(set_={'HUB_REDIS_URL': self.ctx.redis.url,
                                       'WORKER_ID': self.worker_id,
                                       'MACHINE_ID': self.machine_id}, extra=self.env)
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

    def wait_log(self, pattern, timeout, what=None):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()), timeout,
                          what or 'worker %s logs /%s/' % (self.worker_id, pattern), interval=0.02)

    def sanitizer_report(self):
        text = self.log()
        for marker in emptest.SANITIZER_MARKERS:
            if marker in text:
                return marker
        return None


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
