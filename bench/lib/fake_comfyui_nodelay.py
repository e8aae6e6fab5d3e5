#!/usr/bin/python3
"""Runs tests/fakes/fake_comfyui.py unchanged, with TCP_NODELAY on its accepted sockets.

python's http.server writes the status line + headers and the body in separate send()s; on a
kept-alive connection, Nagle on the server side then holds the body until the client's
delayed ACK (~40 ms on Linux). Real ComfyUI (aiohttp) sets TCP_NODELAY, so the benchmark runs
the fake both as it is and through this wrapper (same arguments).
"""
import os
import runpy
import socketserver
import sys

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fakes",
                    "fake_comfyui.py")
socketserver.StreamRequestHandler.disable_nagle_algorithm = True
sys.argv[0] = FAKE
runpy.run_path(FAKE, run_name="__main__")
