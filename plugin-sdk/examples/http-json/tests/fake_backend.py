#!/usr/bin/env python3
"""A tiny Ollama-like backend for the http_json plugin's tests (standard library only).

Listens on 127.0.0.1 on a free port and prints the port as the first line of stdout (logs go
to stderr); stop it by its PID (SIGTERM).

  GET  /api/tags        {"models":[{"name":"llama3"},{"name":"tiny"}]}
  POST /api/generate    {"model","prompt","stream":false,...} -> {"model","response","done":true,
                        "options":<the request's options, as received>}; by prompt:
                          "bad"     400 {"error":"invalid prompt"}
                          "busy"    429 {"error":"busy"}
                          "boom"    500 {"error":"internal error"}
                          "garbage" 200 with a body that is not JSON
                          "huge"    200 with a 64 KiB JSON body
                          "hang..." never answers (until the client leaves); see /_seen
                        and model "missing" gives 404 {"error":"model 'missing' not found"}.
  GET  /_last           the body of the last /api/generate request, byte for byte
  GET  /_seen?prompt=P  "yes" once a request with prompt P arrived
"""
import http.server
import json
import signal
import socketserver
import sys
import threading
import urllib.parse

state = {"last": b"", "seen": set()}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake_backend: " + (fmt % args) + "\n")

    def reply(self, status, obj=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/api/tags":
            return self.reply(200, {"models": [{"name": "llama3"}, {"name": "tiny"}]})
        if u.path == "/_last":
            with lock:
                return self.reply(200, raw=state["last"])
        if u.path == "/_seen":
            with lock:
                return self.reply(200, raw=b"yes" if q.get("prompt") in state["seen"] else b"no")
        return self.reply(404, {"error": "not found"})

    def hang(self):
        self.connection.settimeout(0.05)
        for _ in range(600):  # at most 30 s; ends as soon as the client goes away
            try:
                if self.connection.recv(1) == b"":
                    break
            except OSError as e:
                if "timed out" not in str(e):
                    break
        self.close_connection = True

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        if urllib.parse.urlsplit(self.path).path != "/api/generate":
            return self.reply(404, {"error": "not found"})
        try:
            req = json.loads(raw)
        except ValueError:
            return self.reply(400, {"error": "request is not JSON"})
        prompt, model = req.get("prompt"), req.get("model")
        with lock:
            state["last"] = raw
            state["seen"].add(prompt)
        if req.get("stream") is not False:
            return self.reply(400, {"error": "this fake only does stream=false"})
        if model == "missing":
            return self.reply(404, {"error": "model 'missing' not found"})
        table = {"bad": (400, "invalid prompt"), "busy": (429, "busy"),
                 "boom": (500, "internal error")}
        if prompt in table:
            return self.reply(table[prompt][0], {"error": table[prompt][1]})
        if prompt == "garbage":
            return self.reply(200, raw=b"<html>not json</html>")
        if prompt == "huge":
            return self.reply(200, {"model": model, "response": "h" * 65536, "done": True})
        if str(prompt).startswith("hang"):
            return self.hang()
        return self.reply(200, {"model": model, "response": "echo: " + str(prompt), "done": True,
                                "options": req.get("options")})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        sys.stderr.write("fake_backend: client left: %s\n" % (sys.exc_info()[1],))


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    print(srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
