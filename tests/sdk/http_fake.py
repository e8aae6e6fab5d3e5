#!/usr/bin/python3
"""A small HTTP server for the HTTP-helper tests (host and test kit).

Listens on 127.0.0.1 on a free port and prints that port as the first line of stdout; logs go
to stderr. Stopped by its PID (SIGTERM). Endpoints:
  GET  /ok                 200 {"ok":true}, application/json
  GET  /status/<n>         status n, body {"status":n}
  ANY  /echo               200 {"method","path","headers":{lowercase name: value},"body_hex"}
  GET  /big?n=N            N bytes with Content-Length
  GET  /bigchunked?n=N     N bytes, chunked transfer coding (4 KiB chunks)
  GET  /nolength?n=N       N bytes, no Content-Length: ends when the connection closes
  GET  /hang?id=X          records X as seen, then never answers (until the client leaves or
                           30 s pass)
  GET  /slowbody?id=X      headers and one byte of a 10-byte body, then hangs like /hang
  GET  /seen?id=X          200 "yes" once /hang or /slowbody got X, else 200 "no"
"""
import http.server
import json
import signal
import socketserver
import sys
import threading
import urllib.parse

seen = set()
seen_lock = threading.Lock()
stop = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("http_fake: " + (fmt % args) + "\n")

    def send_body(self, status, body, ctype="application/json"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def hang(self, qid):
        with seen_lock:
            seen.add(qid)
        # wait for the client to go away (or the server to stop), at most 30 s
        self.connection.settimeout(0.05)
        for _ in range(600):
            if stop.wait(0.0):
                break
            try:
                if self.connection.recv(1) == b"":
                    break
            except OSError as e:
                if "timed out" not in str(e):
                    break
        self.close_connection = True

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        n = int(q.get("n", "0"))
        body = self.read_body()
        if u.path == "/ok":
            return self.send_body(200, '{"ok":true}')
        if u.path.startswith("/status/"):
            code = int(u.path.split("/")[2])
            return self.send_body(code, json.dumps({"status": code}))
        if u.path == "/echo":
            return self.send_body(200, json.dumps({
                "method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_hex": body.hex()}))
        if u.path == "/big":
            return self.send_body(200, b"x" * n, "application/octet-stream")
        if u.path == "/bigchunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            left = n
            while left > 0:
                k = min(4096, left)
                self.wfile.write(b"%x\r\n" % k + b"y" * k + b"\r\n")
                left -= k
            self.wfile.write(b"0\r\n\r\n")
            return
        if u.path == "/nolength":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"z" * n)
            self.close_connection = True
            return
        if u.path == "/hang":
            return self.hang(q.get("id", ""))
        if u.path == "/slowbody":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"s")
            self.wfile.flush()
            return self.hang(q.get("id", ""))
        if u.path == "/seen":
            with seen_lock:
                return self.send_body(200, "yes" if q.get("id") in seen else "no", "text/plain")
        return self.send_body(404, '{"error":"no such path"}')

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = route


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # a client that gives up mid-answer (size cap, timeout, cancel) is expected here
        sys.stderr.write("http_fake: client %s left: %s\n" % (client_address, sys.exc_info()[1]))


def main():
    srv = Server(("127.0.0.1", 0), Handler)

    def on_term(*_):
        stop.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    print(srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
