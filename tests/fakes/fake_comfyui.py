#!/usr/bin/python3
"""fake_comfyui.py - a wire-faithful fake ComfyUI server that replays captured sessions.

It serves ComfyUI's HTTP API (POST /prompt, /interrupt, /queue, /upload/image; GET /queue,
/history, /view, /system_stats, /object_info/...) and its WebSocket (/ws?clientId=...), and
answers each prompt by replaying, frame by frame, a session captured from a real server
(tests/fakes/comfyui_fixtures/<version>/NN_*.json), with the prompt id and client id of the
live request substituted. Both protocol generations are available (--version v0.3.64 | 2024).

Standard library only (a small RFC 6455 server is built in), so that faults can be injected at
the frame level: dropped sockets, a killed process, garbage and oversized frames, long silences.

Usage: fake_comfyui.py --version v0.3.64 --scenario basic --port-file /tmp/p
  --port 0 binds a free port on 127.0.0.1; the port is printed on stdout and written to
  --port-file. Stop it with SIGTERM (tests keep the PID).

Scenarios (--scenario; per-prompt override: extra_data {"fake_scenario": NAME}):
  auto          pick the fixture whose captured prompt equals the posted one, else "basic"
  basic 01, cached 02, progress 03/04 (04 when the client sent feature_flags first),
  progress_legacy 03, progress_flags 04, error 05, oom (05 with a CUDA OOM substituted),
  interrupt 06 (holds "running" with progress ticks until POST /interrupt),
  invalid_class 07a, invalid_input 07b, missing_input 07c, no_outputs 07d,
  queued 08 (a foreign prompt runs until interrupted; ours stays pending until deleted),
  loadimage 09b, custom_prompt_id 11.
  POST /prompt without "prompt" answers 07e, malformed JSON answers 07f, on every scenario.

Faults (--fault, repeatable):
  ws_drop_after=N     close the client's socket after N frames of the job (job goes on)
  kill_after=N        os._exit after N frames of the job (server killed mid-job)
  gap_after=N:MS      stay silent MS ms after N frames (an interrupt ends the silence)
  garbage             interleave malformed/foreign frames before every real frame
  oversized=BYTES     send one text frame of BYTES bytes after the first job frame
  prompt_status=N     POST /prompt answers N with the captured 500 body (07f)
  prompt_delay_ms=MS  POST /prompt answers only after MS ms
  ignore_interrupt    POST /interrupt answers 200 and does nothing (a hung node)
Timing: --frame-delay-ms (default 2) between job frames; --hold-tick-ms (default 50) between
progress ticks while holding; --drop-pause-ms (default 300) silence after a ws drop (-1: hold
the job until the client has reconnected, at most 10 s).
Auth (as a reverse proxy in front of ComfyUI would do): --require-token T, --require-basic U:P.
Readiness: --system-stats-status N (default 200). Models: --models classic|v3.
TLS: --tls-cert PEM --tls-key PEM serves https/wss (tests/fakes/comfyui_tls has a test pair).
Test hooks: GET /__fake/log (requests seen), GET /__fake/state (queue, clients, flags).
"""
import argparse
import base64
import hashlib
import heapq
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
VERSIONS = {"v0.3.64": "v0.3.64-a125cd84", "2024": "2024-07-20-95fa9545"}
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SCENARIO_FILES = {
    "basic": "01_basic", "cached": "02_cached_rerun", "progress_legacy": "03_progress_legacy",
    "progress_flags": "04_progress_flags", "error": "05_exec_error", "oom": "05_exec_error",
    "interrupt": "06_interrupt", "invalid_class": "07a_invalid_class",
    "invalid_input": "07b_invalid_input", "missing_input": "07c_missing_input",
    "no_outputs": "07d_no_outputs", "queued": "08_queue_ops", "loadimage": "09b_loadimage",
    "custom_prompt_id": "11_custom_prompt_id",
}
GARBAGE_TEXT = [
    b"not json at all", b'{"type":', b"[]", b'{"type": 5, "data": 1}',
    b'{"type": "executing", "data": "x"}', b'{"type": "progress", "data": {"value": "a", "max": 0}}',
    b'{"type": "progress", "data": {"value": 1, "max": 0}}',
    b'{"type": "executing", "data": {"node": null, "prompt_id": "someone-elses-prompt"}}',
    b'{"type": "execution_error", "data": {"prompt_id": "someone-elses-prompt", "exception_type": "X"}}',
    b'{"type": "executed", "data": {"node": 9, "output": null}}', b"[" * 3000 + b"]" * 3000,
    b'{"type": "logs", "data": {"entries": []}}', b"\xff\xfe\xfd", b"",
]
GARBAGE_BINARY = [b"", b"\x00", b"\x00\x00\x00\x04\xff\xff\xff\xff",
                  b"\x00\x00\x00\x04\x00\x00\x00\x05{\"a\"", b"\x00\x00\x00\x03\x00\x00\x10\x00ab",
                  b"\x00\x00\x00\x63" + b"\x00" * 40, b"\x00\x00\x00\x01"]


def jdump(obj):
    return json.dumps(obj)  # Python's default separators, as aiohttp's json_response uses


class WSConn:
    """One server-side WebSocket connection (RFC 6455, unmasked frames out, masked in)."""

    def __init__(self, sock, client_id):
        self.sock = sock
        self.client_id = client_id
        self.lock = threading.Lock()
        self.alive = True
        self.sent_text = 0
        self.feature_flags = False
        self.first_text_seen = False

    def send(self, payload, binary=False):
        if not self.alive:
            return False
        op = 0x2 if binary else 0x1
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | op, n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | op, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | op, 127, n)
        try:
            with self.lock:
                self.sock.sendall(head + payload)
            return True
        except OSError:
            self.alive = False
            return False

    def drop(self):
        """Abrupt close, as a crashing proxy or a network cut would do."""
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def read_frame(self):
        b1, b2 = self._recv_exact(2)
        op = b1 & 0x0F
        n = b2 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._recv_exact(8))[0]
        mask = self._recv_exact(4) if b2 & 0x80 else b"\0\0\0\0"
        data = bytearray(self._recv_exact(n))
        for i in range(n):
            data[i] ^= mask[i % 4]
        return op, bytes(data)


class Item:
    def __init__(self, number, prompt_id, prompt, extra, client_id, scenario):
        self.number = number
        self.prompt_id = prompt_id
        self.prompt = prompt
        self.extra = extra
        self.client_id = client_id
        self.scenario = scenario
        self.interrupt = threading.Event()
        self.last_node = None
        self.foreign = False

    def queue_tuple(self):
        return [self.number, self.prompt_id, self.prompt, self.extra, outputs_of(self.prompt)]

    def __lt__(self, other):
        return self.number < other.number


def outputs_of(prompt):
    outs = [k for k, v in prompt.items() if isinstance(v, dict) and v.get("class_type") in
            ("SaveImage", "PreviewImage")]
    return outs or list(prompt.keys())[-1:]


class Fake:
    def __init__(self, args):
        self.args = args
        self.version = args.version
        self.dir = os.path.join(args.fixtures, VERSIONS[args.version])
        self.fx = {}
        for name in os.listdir(self.dir):
            if name.endswith(".json"):
                with open(os.path.join(self.dir, name)) as f:
                    self.fx[name[:-5]] = json.load(f)
        self.lock = threading.Condition()
        self.clients = {}
        self.running = None
        self.pending = []
        self.history = {}
        self.uploads = {}
        self.counter = 0
        self.log = []
        self.frames_in = []
        self.faults = parse_faults(args.fault)
        self.kill_armed = True
        self.drop_armed = True
        self.oversize_armed = True
        threading.Thread(target=self.executor, daemon=True).start()

    # ---- bookkeeping ----
    def record(self, method, path, body):
        with self.lock:
            try:
                text = body.decode("utf-8", "replace")
            except Exception:
                text = ""
            self.log.append({"method": method, "path": path, "body": text[:4000],
                             "len": len(body), "t": time.time()})

    def state(self):
        with self.lock:
            return {"running": self.running.prompt_id if self.running else None,
                    "running_foreign": bool(self.running and self.running.foreign),
                    "pending": [i.prompt_id for i in sorted(self.pending)],
                    "history": list(self.history.keys()),
                    "clients": [c for c, w in self.clients.items() if w.alive],
                    "feature_flags": [c for c, w in self.clients.items() if w.feature_flags],
                    "frames_in": self.frames_in[-50:], "uploads": sorted(self.uploads.keys())}

    def client(self, cid):
        with self.lock:
            w = self.clients.get(cid)
            return w if w and w.alive else None

    def send(self, cid, payload, binary=False):
        w = self.client(cid)
        if w is not None:  # nothing is buffered for a disconnected client
            w.send(payload, binary)

    # ---- scenario data ----
    def scenario_for(self, prompt, extra, client_flags):
        name = (extra or {}).get("fake_scenario") if isinstance(extra, dict) else None
        name = name or self.args.scenario
        if name == "auto":
            name = "basic"
            for key, scen in SCENARIO_FILES.items():
                fx = self.fx.get(scen)
                if fx and isinstance(fx.get("request"), dict) and fx["request"].get("prompt") == prompt:
                    name = key
                    break
        if name == "progress":
            name = "progress_flags" if client_flags else "progress_legacy"
        return name

    def fixture(self, scenario):
        return self.fx[SCENARIO_FILES[scenario]]

    def job_frames(self, fx):
        """The captured frames that belong to the job: drop the on-connect status(sid) and the
        feature_flags reply (both are sent when the socket connects/negotiates)."""
        out = []
        for fr in fx["ws"]:
            if fr["kind"] == "text":
                d = json.loads(fr["raw"])
                if d.get("type") == "status" and "sid" in d.get("data", {}):
                    continue
                if d.get("type") == "feature_flags":
                    continue
            out.append(fr)
        return out

    @staticmethod
    def fixture_prompt_id(fx):
        return json.loads(fx["post_response"])["prompt_id"]

    def binary_frame(self, fr, pid, old_pid):
        head = bytes.fromhex(fr["head_hex"])
        if fr.get("event") == 4:
            meta = dict(fr["metadata"])
            meta["prompt_id"] = pid
            mj = jdump(meta).encode()
            body = struct.pack("!II", 4, len(mj)) + mj + bytes.fromhex(fr["image_magic_hex"])
        else:
            body = head
        return body + b"\x5a" * max(0, fr["len"] - len(body))

    # ---- executor ----
    def executor(self):
        while True:
            with self.lock:
                while not self.pending:
                    self.lock.wait()
                item = heapq.heappop(self.pending)
                self.running = item
                self.lock.notify_all()
            try:
                self.run_item(item)
            finally:
                with self.lock:
                    self.running = None
                    self.lock.notify_all()

    def wait(self, item, seconds):
        """Sleep, cut short by an interrupt of this item. True when interrupted."""
        return item.interrupt.wait(max(0.0, seconds))

    def run_item(self, item):
        if item.foreign:  # the blocker of the "queued" scenario: runs until interrupted
            item.interrupt.wait()
            return
        fx = self.fixture(item.scenario)
        old = self.fixture_prompt_id(fx)
        frames = self.job_frames(fx)
        delay = self.args.frame_delay_ms / 1000.0
        hold = item.scenario == "interrupt"
        n = 0
        interrupted = False
        idx = 0
        while idx < len(frames):
            fr = frames[idx]
            if fr["kind"] == "text":
                raw = fr["raw"].replace(old, item.prompt_id)
                d = json.loads(raw)
                typ = d.get("type")
                data = d.get("data", {})
                if hold and typ == "execution_interrupted":
                    interrupted = self.hold_until_interrupt(item)
                    break
                if typ == "executing" and data.get("node") is None:
                    self.write_history(item, fx, old)
                if item.scenario == "oom" and typ == "execution_error":
                    raw = self.oomify(raw)
                if typ == "executing" and data.get("node") is not None:
                    item.last_node = data["node"]
                self.garbage(item)
                self.send(item.client_id, raw.encode())
            else:
                self.garbage(item)
                self.send(item.client_id, self.binary_frame(fr, item.prompt_id, old), True)
            n += 1
            idx += 1
            if self.after_frame(item, n):
                interrupted = True
                break
            if idx < len(frames) and self.wait(item, delay):
                interrupted = True
                break
        if interrupted:
            self.finish_interrupted(item)

    def after_frame(self, item, n):
        """Apply the frame-count faults. True when an interrupt cut a silence short."""
        f = self.faults
        if n == 1 and "oversized" in f and self.oversize_armed:
            self.oversize_armed = False
            size = int(f["oversized"])
            pad = size - 40
            self.send(item.client_id, (b'{"type": "logs", "data": {"x": "' + b"a" * pad + b'"}}'))
        if "kill_after" in f and n == int(f["kill_after"]) and self.kill_armed:
            sys.stdout.flush()
            os._exit(3)
        if "ws_drop_after" in f and n == int(f["ws_drop_after"]) and self.drop_armed:
            self.drop_armed = False
            w = self.client(item.client_id)
            if w:
                w.drop()
            if self.args.drop_pause_ms < 0:  # hold the job until the client is back (<= 10 s)
                def back():
                    c = self.clients.get(item.client_id)
                    return c is not None and c is not w and c.alive
                with self.lock:
                    self.lock.wait_for(back, timeout=10)
            elif self.wait(item, self.args.drop_pause_ms / 1000.0):
                return True
        if "gap_after" in f:
            at, ms = f["gap_after"].split(":")
            if n == int(at) and self.wait(item, int(ms) / 1000.0):
                return True
        return False

    def garbage(self, item):
        if "garbage" not in self.faults:
            return
        for g in GARBAGE_TEXT:
            self.send(item.client_id, g)
        for g in GARBAGE_BINARY:
            self.send(item.client_id, g, True)

    def oomify(self, raw):
        d = json.loads(raw)
        d["data"]["exception_type"] = "torch.OutOfMemoryError"
        d["data"]["exception_message"] = "Allocation on device \nThis error means you ran out of memory on your GPU.\n"
        return jdump(d)

    def history_entry(self, item, fx, old):
        h = json.loads(jdump(fx["history"]).replace(old, item.prompt_id))
        entry = h[item.prompt_id]
        entry["prompt"] = [item.number, item.prompt_id, item.prompt, item.extra, outputs_of(item.prompt)]
        if item.scenario == "oom":
            for m in entry.get("status", {}).get("messages", []):
                if m[0] == "execution_error":
                    m[1]["exception_type"] = "torch.OutOfMemoryError"
                    m[1]["exception_message"] = "Allocation on device \n"
        return entry

    def write_history(self, item, fx, old):
        with self.lock:
            self.history[item.prompt_id] = self.history_entry(item, fx, old)

    def hold_until_interrupt(self, item):
        step = 1
        while not item.interrupt.wait(self.args.hold_tick_ms / 1000.0):
            step = min(step + 1, 99)
            self.send(item.client_id, jdump({"type": "progress", "data": {
                "value": step, "max": 100, "prompt_id": item.prompt_id,
                "node": item.last_node or "2"}}).encode())
        return True

    def finish_interrupted(self, item):
        """The end of an interrupted prompt, as captured in 06_interrupt."""
        fx = self.fixture("interrupt")
        old = self.fixture_prompt_id(fx)
        tail = [fr for fr in self.job_frames(fx) if fr["kind"] == "text"][-3:]
        hist = json.loads(jdump(fx["history"]).replace(old, item.prompt_id))[item.prompt_id]
        hist["prompt"] = item.queue_tuple()
        with self.lock:
            self.history[item.prompt_id] = hist
        for fr in tail:
            self.send(item.client_id, fr["raw"].replace(old, item.prompt_id).encode())

    # ---- HTTP actions ----
    def post_prompt(self, body):
        if "prompt_delay_ms" in self.faults:
            time.sleep(float(self.faults["prompt_delay_ms"]) / 1000.0)
        if "prompt_status" in self.faults:
            fx = self.fx["07f_bad_json"]
            return int(self.faults["prompt_status"]), fx["body"], "text/plain; charset=utf-8"
        try:
            req = json.loads(body)
        except ValueError:
            fx = self.fx["07f_bad_json"]
            return fx["status"], fx["body"], "text/plain; charset=utf-8"
        if not isinstance(req, dict) or "prompt" not in req:
            fx = self.fx["07e_no_prompt"]
            return fx["status"], fx["body"], None
        cid = req.get("client_id")
        extra = req.get("extra_data") or {}
        if cid:
            extra = dict(extra)
            extra["client_id"] = cid
        w = self.client(cid) if cid else None
        if w is not None:  # a socket's first message is read before a later POST, as in aiohttp
            with self.lock:
                self.lock.wait_for(lambda: w.first_text_seen or not w.alive, timeout=0.5)
        scen = self.scenario_for(req["prompt"], req.get("extra_data"), w.feature_flags if w else False)
        if scen.startswith(("invalid_", "missing_", "no_outputs")):
            fx = self.fixture(scen)
            return fx["post_status"], fx["post_response"], None
        with self.lock:
            pid = req.get("prompt_id") if (self.version == "v0.3.64" and isinstance(req.get("prompt_id"), str)) else None
            pid = pid or str(uuid.uuid4())
            if scen == "queued" and self.running is None:
                blocker = Item(self.counter, str(uuid.uuid4()), req["prompt"],
                               {"client_id": "someone-else"}, "someone-else", "basic")
                blocker.foreign = True
                self.counter += 1
                heapq.heappush(self.pending, blocker)
                self.lock.notify_all()
                while self.running is not blocker:
                    self.lock.wait()
            number = self.counter
            self.counter += 1
            if req.get("front") and "number" not in req:
                number = -number
            item = Item(number, pid, req["prompt"], extra, cid, "basic" if scen == "queued" else scen)
            heapq.heappush(self.pending, item)
            self.lock.notify_all()
        return 200, jdump({"prompt_id": pid, "number": number, "node_errors": {}}), None

    def interrupt(self, body):
        if "ignore_interrupt" in self.faults:
            return
        target = None
        if self.version == "v0.3.64" and body:
            try:
                target = json.loads(body).get("prompt_id")
            except (ValueError, AttributeError):
                target = None
        with self.lock:
            r = self.running
            if r is not None and (target is None or target == r.prompt_id):
                r.interrupt.set()

    def queue_op(self, body):
        try:
            req = json.loads(body) if body else {}
        except ValueError:
            req = {}
        with self.lock:
            if req.get("clear"):
                self.pending = []
            for pid in req.get("delete", []) or []:
                self.pending = [i for i in self.pending if i.prompt_id != pid]
            heapq.heapify(self.pending)

    def queue_json(self):
        with self.lock:
            return jdump({"queue_running": [self.running.queue_tuple()] if self.running else [],
                          "queue_pending": [i.queue_tuple() for i in self.pending]})


def parse_faults(items):
    out = {}
    for it in items or []:
        k, _, v = it.partition("=")
        out[k] = v
    return out


def parse_multipart(body, ctype):
    """Minimal multipart/form-data reader: {name: (filename, bytes)}."""
    bnd = None
    for part in ctype.split(";"):
        part = part.strip()
        if part.startswith("boundary="):
            bnd = part[9:].strip('"')
    if not bnd:
        return {}
    out = {}
    for chunk in body.split(b"--" + bnd.encode()):
        if b"\r\n\r\n" not in chunk:
            continue
        head, _, data = chunk.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        name = filename = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition"):
                for kv in line.split(";")[1:]:
                    k, _, v = kv.strip().partition("=")
                    if k == "name":
                        name = v.strip('"')
                    elif k == "filename":
                        filename = v.strip('"')
        if name:
            out[name] = (filename, data)
    return out


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Python/3.11 aiohttp/3.8.4"
        # aiohttp sets TCP_NODELAY; without it, headers and body in separate send()s wait for
        # the client's delayed ACK (~40 ms) on a kept-alive connection
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):
            if fake.args.verbose:
                sys.stderr.write("fake_comfyui: " + (fmt % args) + "\n")

        def reply(self, status, body=b"", ctype="application/json; charset=utf-8", headers=None):
            if isinstance(body, str):
                body = body.encode()
            self.send_response(status)
            if body or ctype:
                self.send_header("Content-Type", ctype or "application/json; charset=utf-8")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def not_found(self):
            self.reply(404, "404: Not Found", "text/plain; charset=utf-8")

        def authorized(self):
            want = None
            if fake.args.require_token:
                want = "Bearer " + fake.args.require_token
            elif fake.args.require_basic:
                want = "Basic " + base64.b64encode(fake.args.require_basic.encode()).decode()
            if want is None or self.headers.get("Authorization") == want:
                return True
            self.reply(401, "401: Unauthorized", "text/plain; charset=utf-8")
            return False

        def origin_ok(self):
            origin = self.headers.get("Origin")
            if origin and urllib.parse.urlparse(origin).netloc != self.headers.get("Host"):
                self.reply(403, b"", None)
                return False
            return True

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            fake.record("GET", self.path, b"")
            if u.path == "/__fake/log":
                with fake.lock:
                    return self.reply(200, jdump(fake.log))
            if u.path == "/__fake/state":
                return self.reply(200, jdump(fake.state()))
            if u.path == "/__fake/blob":  # a download of N bytes, for input-URL tests
                size = int(q.get("size", ["100"])[0])
                return self.reply(200, (b"\x89PNG\r\n\x1a\n" + b"B" * size)[:size], "image/png")
            if not self.authorized() or not self.origin_ok():
                return
            if u.path == "/ws":
                return self.websocket(q.get("clientId", [None])[0])
            if u.path == "/system_stats":
                fx = fake.fx["00_gets"]["/system_stats"]
                st = fake.args.system_stats_status
                return self.reply(st, fx["body"] if st == 200 else "%d: error" % st)
            if u.path in ("/features", "/embeddings", "/models", "/prompt"):
                fx = fake.fx["00_gets"][u.path]
                if u.path == "/prompt":
                    with fake.lock:
                        n = len(fake.pending) + (1 if fake.running else 0)
                    return self.reply(200, jdump({"exec_info": {"queue_remaining": n}}))
                return self.reply(fx["status"], fx["body"], fx["content_type"])
            if u.path == "/queue":
                return self.reply(200, fake.queue_json())
            if u.path.startswith("/history"):
                pid = u.path[len("/history/"):] if u.path.startswith("/history/") else None
                with fake.lock:
                    if pid is None:
                        return self.reply(200, jdump(fake.history))
                    e = fake.history.get(urllib.parse.unquote(pid))
                    return self.reply(200, jdump({urllib.parse.unquote(pid): e} if e else {}))
            if u.path == "/view":
                return self.view(q)
            if u.path.startswith("/object_info"):
                return self.object_info(u.path)
            return self.not_found()

        def view(self, q):
            fn = q.get("filename", [""])[0]
            typ = q.get("type", ["output"])[0]
            sub = q.get("subfolder", [""])[0]
            if not fn or fn.startswith("/") or ".." in fn or typ not in ("output", "input", "temp"):
                return self.reply(400, b"", None)
            if ".." in sub or sub.startswith("/"):
                return self.reply(403, b"", None)
            if typ == "input":
                data = fake.uploads.get((sub + "/" if sub else "") + fn)
                if data is None:
                    return self.not_found()
                return self.reply(200, data, "image/png")
            with fake.lock:
                known = any(img.get("filename") == fn
                            for e in fake.history.values()
                            for out in (e.get("outputs") or {}).values()
                            for lst in out.values() if isinstance(lst, list)
                            for img in lst if isinstance(img, dict))
            if not known:
                return self.not_found()
            fx = fake.fx["01b_view"]
            data = bytes.fromhex(fx["magic_hex"]) + (fn.encode() * 64)
            data = data[:fx["len"]].ljust(fx["len"], b"\0")
            return self.reply(200, data, "image/png",
                              {"Content-Disposition": 'filename="%s"' % fn})

        def object_info(self, path):
            names = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors",
                     "flux1-dev-fp8 \"quoted\".safetensors"]
            if fake.args.models == "v3":
                spec = ["COMBO", {"options": names, "tooltip": "checkpoint"}]
            else:
                spec = [names, {"tooltip": "The name of the checkpoint (model) to load."}]
            info = {"CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": spec}},
                                               "output": ["MODEL", "CLIP", "VAE"],
                                               "name": "CheckpointLoaderSimple"}}
            if path in ("/object_info", "/object_info/CheckpointLoaderSimple"):
                return self.reply(200, jdump(info))
            cls = path[len("/object_info/"):]
            key = "/object_info/" + cls
            if key in fake.fx["00_gets"]:
                return self.reply(200, fake.fx["00_gets"][key]["body"])
            return self.reply(200, "{}")

        def do_POST(self):
            u = urllib.parse.urlparse(self.path)
            body = self.body()
            fake.record("POST", self.path, body)
            if not self.authorized() or not self.origin_ok():
                return
            if u.path == "/prompt":
                st, text, ctype = fake.post_prompt(body)
                return self.reply(st, text, ctype or "application/json; charset=utf-8")
            if u.path == "/interrupt":
                fake.interrupt(body)
                return self.reply(200, b"", None)
            if u.path == "/queue":
                fake.queue_op(body)
                return self.reply(200, b"", None)
            if u.path == "/history":
                return self.reply(200, b"", None)
            if u.path == "/upload/image":
                parts = parse_multipart(body, self.headers.get("Content-Type", ""))
                if "image" not in parts or not parts["image"][0]:
                    return self.reply(400, b"", None)
                name = parts["image"][0]
                sub = parts.get("subfolder", (None, b""))[1].decode()
                if ".." in name or "/" in name or ".." in sub:
                    return self.reply(400, b"", None)
                fake.uploads[(sub + "/" if sub else "") + name] = parts["image"][1]
                return self.reply(200, jdump({"name": name, "subfolder": sub,
                                              "type": parts.get("type", (None, b"input"))[1].decode()}))
            return self.not_found()

        def websocket(self, client_id):
            key = self.headers.get("Sec-WebSocket-Key")
            if not key or self.headers.get("Upgrade", "").lower() != "websocket":
                return self.reply(400, "400: Bad Request", "text/plain; charset=utf-8")
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            cid = client_id or uuid.uuid4().hex
            conn = WSConn(self.connection, cid)
            with fake.lock:  # registered before the client can see the upgrade succeed
                old = fake.clients.get(cid)
                fake.clients[cid] = conn  # a reused clientId replaces the old socket
                running = fake.running
                fake.lock.notify_all()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            conn.send(jdump({"type": "status", "data": {"status": {"exec_info": {
                "queue_remaining": len(fake.pending) + (1 if running else 0)}}, "sid": cid}}).encode())
            if running is not None and running.client_id == cid and running.last_node:
                # the re-sync a reconnecting owner gets: executing with the last node, no prompt_id
                conn.send(jdump({"type": "executing", "data": {"node": running.last_node}}).encode())
            if old is not None and old is not conn:
                old.alive = False
            try:
                while True:
                    op, data = conn.read_frame()
                    if op == 0x8:
                        break
                    if op == 0x9:
                        with conn.lock:
                            conn.sock.sendall(struct.pack("!BB", 0x8A, len(data)) + data)
                        continue
                    if op == 0x1:
                        with fake.lock:
                            fake.frames_in.append({"client": cid, "text": data.decode("utf-8", "replace")[:500]})
                        first = not conn.first_text_seen
                        try:
                            msg = json.loads(data)
                        except ValueError:
                            msg = None
                        flags = first and isinstance(msg, dict) and msg.get("type") == "feature_flags"
                        if flags:
                            conn.feature_flags = bool((msg.get("data") or {}).get("supports_preview_metadata"))
                        with fake.lock:
                            conn.first_text_seen = True
                            fake.lock.notify_all()
                        # the 2024 build ignores feature_flags silently (captured: no reply);
                        # its 04_progress_flags capture is what such a client then sees
                        if flags and fake.version == "v0.3.64":
                            conn.send(jdump({"type": "feature_flags", "data": {
                                "supports_preview_metadata": True, "max_upload_size": 104857600}}).encode())
            except (ConnectionError, OSError, struct.error, ValueError):
                pass
            conn.alive = False

    return Handler


class Server(ThreadingHTTPServer):
    """One thread per connection; with TLS the handshake happens in that thread (bounded), so a
    slow or failing client never blocks the accept loop."""
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64
    tls = None

    def finish_request(self, request, client_address):
        if self.tls is not None:
            request.settimeout(10)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                request.close()
                return
            request.settimeout(None)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-request is part of the test, not news


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--version", choices=sorted(VERSIONS), default="v0.3.64")
    ap.add_argument("--fixtures", default=os.path.join(HERE, "comfyui_fixtures"))
    ap.add_argument("--scenario", default="auto")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--fault", action="append", default=[])
    ap.add_argument("--frame-delay-ms", type=float, default=2.0)
    ap.add_argument("--hold-tick-ms", type=float, default=50.0)
    ap.add_argument("--drop-pause-ms", type=float, default=300.0)
    ap.add_argument("--require-token")
    ap.add_argument("--require-basic")
    ap.add_argument("--system-stats-status", type=int, default=200)
    ap.add_argument("--models", choices=["classic", "v3"], default="classic")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.scenario not in SCENARIO_FILES and args.scenario not in ("auto", "progress"):
        ap.error("unknown scenario %s" % args.scenario)
    fake = Fake(args)
    srv = Server(("127.0.0.1", args.port), make_handler(fake))
    if args.tls_cert:
        srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.tls.load_cert_chain(args.tls_cert, args.tls_key)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print(port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
