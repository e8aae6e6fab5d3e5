"""faultlib.py - helpers for the fault-injection suite (tests/faults/*.py).

Real processes on 127.0.0.1 only: a private redis-server per test (free port, own temp dir),
emp-worker processes with generated configs, stopped by PID. Tests never sleep a fixed amount:
they wait for conditions with deadlines (wait_until).

* Ctx: one test's temp dir and every process it started (all stopped at the end, by PID).
* RedisServer: start / stop / restart (same port), SIGSTOP / SIGCONT, DEBUG SLEEP without
  waiting for the reply, `requirepass`.
* Worker: one emp-worker (GPU 0, mock connector by default); log captured to a file; optional
  command prefix (valgrind).
* submit(): a job written exactly as the emp-job-queue API writes it (hash, jobs:pending score,
  job_submitted message; emp-job-queue.md 2.1, 3.6, 5.2b).
* Listener: a subscriber thread recording every message.
* rx_pending(): bytes a worker has sent that redis-server has not read yet (from /proc/net/tcp),
  to know that a command is in flight while the server is paused.

Only the standard library and python3-redis (Debian) are used; run with /usr/bin/python3.
"""

import json
import os
import re
import shutil
import signal
import struct
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib'))
import emptest  # noqa: E402
from emptest import (SANITIZER_MARKERS, TestFailure, check, conf_group, conf_value,  # noqa: E402,F401
                     free_port, iso_now, iso_to_ms, wait_until)


class TestSkip(Exception):
    pass


SKIP_RC = 77


# ------------------------------------------------------------------------------------------------
# the test context
# ------------------------------------------------------------------------------------------------

class Ctx:
    def __init__(self, worker_bin, plugin_dir, sanitize=False, keep=False):
        self.worker_bin = os.path.abspath(worker_bin)
        self.plugin_dir = os.path.abspath(plugin_dir)
        self.sanitize = sanitize
        self.keep = keep
        self.tmpdir = tempfile.mkdtemp(prefix='emp-faults.')
        self.procs = []     # objects with .stop()
        self.redis = None
        self.notes = []

    def track(self, obj):
        if obj not in self.procs:
            self.procs.append(obj)

    def note(self, fmt, *args):
        line = fmt % args if args else fmt
        self.notes.append(line)
        print('  ' + line, flush=True)

    def start_redis(self, **kw):
        self.redis = RedisServer(self, **kw).start()
        return self.redis

    def close(self, failed):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:  # keep stopping the others
                traceback.print_exc()
        if failed or self.keep:
            print('  (kept %s for inspection)' % self.tmpdir)
        else:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# redis-server
# ------------------------------------------------------------------------------------------------

class RedisServer(emptest.RedisServer):
    def __init__(self, ctx, password=None, appendonly=False):
        super().__init__(ctx.tmpdir, appendonly=appendonly, password=password,
                         extra_args=['--enable-debug-command', 'local'])
        self.ctx = ctx
        ctx.track(self)

    def sigstop(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.stopped = True

    def sigcont(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.stopped = False

    def send_raw(self, *commands):
        """Send commands on a fresh connection without waiting for the replies (DEBUG SLEEP).
        Returns the socket: close it (or read from it) later."""
        s = socket.create_connection(('127.0.0.1', self.port), timeout=30)
        out = b''
        if self.password:
            commands = (('AUTH', self.password),) + tuple(commands)
        for cmd in commands:
            parts = [c if isinstance(c, bytes) else str(c).encode() for c in cmd]
            out += b'*%d\r\n' % len(parts)
            for p in parts:
                out += b'$%d\r\n%s\r\n' % (len(p), p)
        s.sendall(out)
        return s


def _tcp_table():
    """[(local_port, remote_port, rx_queue, inode)] for IPv4 127.0.0.1 sockets."""
    rows = []
    try:
        with open('/proc/net/tcp') as f:
            next(f)
            for line in f:
                p = line.split()
                lport = int(p[1].split(':')[1], 16)
                rport = int(p[2].split(':')[1], 16)
                rxq = int(p[4].split(':')[1], 16)
                rows.append((lport, rport, rxq, int(p[9])))
    except OSError:
        pass
    return rows


def socket_inodes(pid):
    out = set()
    try:
        for fd in os.listdir('/proc/%d/fd' % pid):
            try:
                t = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            m = re.match(r'socket:\[(\d+)\]', t)
            if m:
                out.add(int(m.group(1)))
    except OSError:
        pass
    return out


def conn_ports(pid, server_port):
    """Local ports of process pid's TCP connections to the server on server_port."""
    inodes = socket_inodes(pid)
    return {l for (l, r, q, ino) in _tcp_table() if ino in inodes and r == server_port}


def rx_pending(pid, server_port):
    """Bytes sent by process `pid` to the server on `server_port` that the server has not read
    yet (the server's receive queue of each of pid's connections)."""
    table = _tcp_table()
    inodes = socket_inodes(pid)
    ports = {l for (l, r, q, ino) in table if ino in inodes and r == server_port}
    return sum(q for (l, r, q, ino) in table if l == server_port and r in ports)


# ------------------------------------------------------------------------------------------------
# jobs, the API way
# ------------------------------------------------------------------------------------------------

def job_record(*args, **kw):
    """(id, hash, score, job_submitted message) as the API's submitJob writes them (a short
    job_submitted message). omit: hash fields to leave out; extra: fields to add or override."""
    kw.setdefault('short_message', True)
    return emptest.job_record(*args, **kw)


def submit(r, publish=True, **kw):
    p = r.pipeline(transaction=False)
    job_id = emptest.write_job(p, job_record(**kw), publish)
    p.execute()
    return job_id


def submit_many(r, records, publish=True, batch=500):
    emptest.submit_many(r, records, publish, batch)


def job_status(r, job_id):
    return r.hget('job:' + job_id, 'status')


def wait_status(r, job_id, statuses, timeout, what=None):
    if isinstance(statuses, str):
        statuses = (statuses,)
    return wait_until(lambda: job_status(r, job_id) in statuses and job_status(r, job_id),
                      timeout, what or 'job %s reaches %s' % (job_id, '/'.join(statuses)))


def failure_reason(r, job_id):
    v = r.hget('jobs:failed', job_id)
    return json.loads(v)['error'] if v else None


# ------------------------------------------------------------------------------------------------
# pub/sub
# ------------------------------------------------------------------------------------------------

class Listener(emptest.Listener):
    """A subscriber on its own connection; records (monotonic time, channel, data)."""

    def __init__(self, server, channels=(), patterns=(), decode=True):
        super().__init__(server, channels, patterns, decode)
        server.ctx.track(self)

    def count(self, channel, job_id):
        return len(self.json(channel, lambda j: j.get('job_id') == job_id))


class Monitor:
    """MONITOR on its own connection, recording every line (for secret scans)."""

    def __init__(self, server):
        self.sock = socket.create_connection(('127.0.0.1', server.port), timeout=1)
        if server.password:
            self.sock.sendall(b'AUTH %s\r\n' % server.password.encode())
        self.sock.sendall(b'MONITOR\r\n')
        self.data = bytearray()
        self.lock = threading.Lock()
        self._stop = False
        wait_until(lambda: b'+OK' in self._peek_read(), 5, 'MONITOR started')
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        server.ctx.track(self)

    def _peek_read(self):
        try:
            self.data += self.sock.recv(65536)
        except socket.timeout:
            pass
        return bytes(self.data)

    def _run(self):
        while not self._stop:
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not b:
                break
            with self.lock:
                self.data += b

    def text(self):
        with self.lock:
            return bytes(self.data)

    def stop(self):
        if self._stop:
            return
        self._stop = True
        self.thread.join(3)
        self.sock.close()


# ------------------------------------------------------------------------------------------------
# emp-worker
# ------------------------------------------------------------------------------------------------

REDIS_CONF = {
    'connect_timeout_ms': 1000,
    'command_timeout_ms': 2000,
    'fallback_poll_ms': 200,
    'wake_jitter_ms': 5,
    'heartbeat_interval_ms': 300,
    'heartbeat_ttl_s': 2,
    'sweep_interval_ms': 400,
}
JOBS_CONF = {
    'timeout_minutes': 30,
    'shutdown_grace_s': 5,
    'cancel_grace_s': 3,
    'progress_interval_ms': 0,
    'retry_backoff_base_ms': 50,
    'retry_backoff_max_ms': 200,
}


class Worker(emptest.ProcessMixin):
    """One emp-worker process (GPU 0) with its own config dir under <tmp>/workers/<wid>.

    connectors: {plugin_name: options dict} (default {'mock': mock_options or {}}).
    url: the Redis URL written to the config file (default: the context's server); the
    environment HUB_REDIS_URL is not used, so that secrets stay in the file only.
    prefix: a command prefix (valgrind ...)."""

    def __init__(self, ctx, worker_id, redis_conf=None, jobs_conf=None, mock_options=None,
                 connectors=None, env=None, prefix=None, url=None, log_level='info',
                 file_mode=0o600):
        self.ctx = ctx
        self.worker_id = worker_id
        self.dir = os.path.join(ctx.tmpdir, 'workers', worker_id)
        os.makedirs(os.path.join(self.dir, 'conf.d'), exist_ok=True)
        rc = dict(REDIS_CONF)
        rc.update(redis_conf or {})
        rc['url'] = url or ctx.redis.url
        jc = dict(JOBS_CONF)
        jc.update(jobs_conf or {})
        self.conf = os.path.join(self.dir, 'worker.conf')
        with open(self.conf, 'w') as f:
            f.write('worker = {\n  machine_id = "faults";\n  worker_id = "%s";\n'
                    '  conf_dir = "conf.d";\n  log_level = "%s";\n};\n' % (worker_id, log_level))
            f.write('redis = {\n%s};\n' % conf_group(rc))
            f.write('jobs = {\n%s};\n' % conf_group(jc))
            f.write('gpus = ( { index = 0; } );\n')
        os.chmod(self.conf, file_mode)
        if connectors is None:
            connectors = {'mock': mock_options or {}}
        for name, opts in connectors.items():
            p = os.path.join(self.dir, 'conf.d', name + '.conf')
            with open(p, 'w') as f:
                f.write('connector = {\n  plugin = "%s";\n  enabled = true;\n  options = {\n%s'
                        '  };\n};\n' % (name, conf_group(opts, '    ')))
            os.chmod(p, file_mode)
        self.env = env or {}
        self.prefix = prefix or []
        self.proc = None
        self.logpath = os.path.join(self.dir, 'worker.log')
        self.starts = 0
        self.returncodes = []

    def start(self):
        env = emptest.worker_env(drop=('HUB_REDIS_URL', 'WORKER_ID', 'MACHINE_ID'),
                                 extra=self.env)
        self.starts += 1
        with open(self.logpath, 'a') as log:
            log.write('===== start #%d =====\n' % self.starts)
            log.flush()
            self.proc = subprocess.Popen(self.prefix + [self.ctx.worker_bin, '--config', self.conf,
                                                        '--gpu', '0', '--plugin-dir',
                                                        self.ctx.plugin_dir],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
        self.ctx.track(self)
        return self

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(10)
        self.returncodes.append(self.proc.returncode)

    def wait_exit(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure('worker %s did not exit within %.0f s' % (self.worker_id, timeout))
        self.returncodes.append(rc)
        return rc

    def stop(self, timeout=30):
        """SIGTERM by PID (SIGCONT first); SIGKILL when it does not exit. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        try:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
            rc = self.proc.wait(timeout)
            self.returncodes.append(rc)
            return rc
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None

    def log_bytes(self):
        try:
            with open(self.logpath, 'rb') as f:
                return f.read()
        except OSError:
            return b''

    def wait_log(self, pattern, timeout, what=None, count=1):
        rx = re.compile(pattern)
        return wait_until(lambda: len(rx.findall(self.log())) >= count, timeout,
                          what or 'worker %s logs /%s/ (x%d)' % (self.worker_id, pattern, count),
                          interval=0.02)

    def sanitizer_report(self):
        text = self.log()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                i = text.index(marker)
                return text[max(0, i - 200):i + 3000]
        return None

    def fd_count(self):
        try:
            return len(os.listdir('/proc/%d/fd' % self.proc.pid))
        except OSError:
            return 0

    def stop_clean(self, timeout=30):
        """SIGTERM and require exit code 0 and no sanitizer report."""
        rc = self.stop(timeout)
        rep = self.sanitizer_report()
        check(rep is None, 'worker %s: sanitizer report:\n%s' % (self.worker_id, rep))
        check(rc == 0, 'worker %s exited %r after SIGTERM (log tail:\n%s)'
              % (self.worker_id, rc, self.log()[-3000:]))


def wait_ready(r, worker, timeout=30):
    """The worker is registered (heartbeat key, hash idle) and has subscribed."""
    def ok():
        if not worker.alive():
            raise TestFailure('worker %s exited early (rc %r); log:\n%s'
                              % (worker.worker_id, worker.proc.returncode, worker.log()[-3000:]))
        return (r.exists('worker:%s:heartbeat' % worker.worker_id)
                and r.hget('worker:%s' % worker.worker_id, 'status') == 'idle')
    wait_until(ok, timeout, 'worker %s registered' % worker.worker_id, interval=0.02)
    # the subscriber connects before registration; the first claim follows it
    return worker


# ------------------------------------------------------------------------------------------------
# a tiny runner: python3 <file>.py --worker BIN --plugins DIR [--sanitize] TEST
# ------------------------------------------------------------------------------------------------

def main(tests, argv=None):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('--worker', required=True)
    ap.add_argument('--plugins', required=True)
    ap.add_argument('--sanitize', action='store_true')
    ap.add_argument('--keep', action='store_true')
    ap.add_argument('--src', default=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    ap.add_argument('test', nargs='*')
    a = ap.parse_args(argv)
    names = a.test or list(tests)
    status = 0
    for name in names:
        if name not in tests:
            print('unknown test %s (have: %s)' % (name, ', '.join(tests)))
            return 2
        ctx = Ctx(a.worker, a.plugins, sanitize=a.sanitize, keep=a.keep)
        ctx.src = a.src
        t0 = time.monotonic()
        print('=== %s' % name, flush=True)
        failed = True
        try:
            tests[name](ctx)
            failed = False
            print('--- PASS %s (%.1f s)' % (name, time.monotonic() - t0), flush=True)
        except TestSkip as e:
            failed = False
            print('--- SKIP %s: %s' % (name, e), flush=True)
            status = status or SKIP_RC
        except Exception as e:
            traceback.print_exc()
            print('--- FAIL %s (%.1f s): %s' % (name, time.monotonic() - t0, e), flush=True)
            for p in ctx.procs:
                if isinstance(p, Worker):
                    print('----- log of %s (last 4000 chars):\n%s'
                          % (p.worker_id, p.log()[-4000:]))
            status = 1
        finally:
            ctx.close(failed)
    return 1 if status == 1 else status


# ------------------------------------------------------------------------------------------------
# backends: the fake ComfyUI / A1111 servers, a proxy that cuts a WebSocket mid-frame, a trap
# ------------------------------------------------------------------------------------------------

class FakeBackend:
    """tests/fakes/fake_comfyui.py or fake_a1111.py as a process (port 0 = a free port, read
    from its first stdout line); restart() reuses the port."""

    def __init__(self, ctx, script, args=()):
        self.ctx = ctx
        self.script = os.path.join(ctx.src, 'tests', 'fakes', script)
        self.args = list(args)
        self.port = 0
        self.proc = None
        self.log = os.path.join(ctx.tmpdir, os.path.basename(script) + '.log')
        ctx.track(self)

    def start(self, args=None):
        if args is not None:
            self.args = list(args)
        deadline = time.monotonic() + 15
        while True:
            errf = open(self.log, 'a')
            self.proc = subprocess.Popen(['/usr/bin/python3', self.script, '--port',
                                          str(self.port)] + self.args,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=errf)
            errf.close()
            line = self.proc.stdout.readline().strip()
            if line.isdigit():
                self.port = int(line)
                threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
                return self
            self.proc.wait()
            if time.monotonic() > deadline:  # the port may linger briefly after a kill
                raise TestFailure('fake %s did not start (see %s)' % (self.script, self.log))
            time.sleep(0.1)

    @staticmethod
    def _drain(proc):
        try:
            for _ in proc.stdout:
                pass
        except (OSError, ValueError):
            pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def get(self, path, method='GET', body=None, timeout=5):
        import urllib.request
        req = urllib.request.Request('http://127.0.0.1:%d%s' % (self.port, path), data=body,
                                     method=method)
        if body is not None:
            req.add_header('Content-Type', 'application/json')
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b'null')


class Trap:
    """A TCP listener that records every connection it gets (a backend URL that must never be
    used)."""

    def __init__(self, ctx):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._halt = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        ctx.track(self)

    def _run(self):
        while not self._halt:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.hits += 1
            c.close()

    def stop(self):
        self._halt = True
        self.thread.join(2)
        self.sock.close()


class WsCutProxy:
    """Forwards 127.0.0.1:<port> to a backend. The first WebSocket connection (server to
    client direction) is cut in the middle of frame number `cut_frame` (counted after the
    handshake): half of that frame is forwarded, then both sockets are closed. Everything else
    passes through untouched."""

    def __init__(self, ctx, backend_port, cut_frame):
        self.backend_port = backend_port
        self.cut_frame = cut_frame
        self.cut_done = False
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.ws_connections = 0
        self._halt = False
        threading.Thread(target=self._accept, daemon=True).start()
        ctx.track(self)

    def _accept(self):
        while not self._halt:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _conn(self, c):
        try:
            b = socket.create_connection(('127.0.0.1', self.backend_port))
        except OSError:
            c.close()
            return
        first = c.recv(65536)
        is_ws = b'upgrade: websocket' in first.lower()
        b.sendall(first)
        cut = False
        if is_ws:
            with self.lock:
                self.ws_connections += 1
                if not self.cut_done:
                    self.cut_done = cut = True
        threading.Thread(target=self._pipe, args=(c, b), daemon=True).start()
        if cut:
            self._pipe_cut(b, c)
        else:
            self._pipe(b, c)

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pipe_cut(self, src, dst):
        """Forward the HTTP 101 answer, then frames; cut inside frame cut_frame."""
        buf = b''
        try:
            while b'\r\n\r\n' not in buf:
                d = src.recv(65536)
                if not d:
                    raise OSError
                buf += d
            head, buf = buf.split(b'\r\n\r\n', 1)
            dst.sendall(head + b'\r\n\r\n')
            n = 0
            while True:
                while True:  # a whole frame in buf?
                    if len(buf) >= 2:
                        ln = buf[1] & 0x7f
                        off = 2
                        if ln == 126 and len(buf) >= 4:
                            ln, off = struct.unpack('>H', buf[2:4])[0], 4
                        elif ln == 127 and len(buf) >= 10:
                            ln, off = struct.unpack('>Q', buf[2:10])[0], 10
                        elif ln >= 126:
                            break
                        total = off + ln
                        if n + 1 == self.cut_frame and len(buf) >= off + 1:
                            dst.sendall(buf[:max(off + 1, off + ln // 2)])
                            raise OSError('cut')
                        if len(buf) >= total:
                            dst.sendall(buf[:total])
                            buf = buf[total:]
                            n += 1
                            continue
                    break
                d = src.recv(65536)
                if not d:
                    raise OSError
                buf += d
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def stop(self):
        self._halt = True
        self.sock.close()
