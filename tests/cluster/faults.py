"""A fault-injecting HTTPS proxy between a client and the real kube-apiserver, for the controller's tests.

It terminates TLS with a certificate of the cluster's serving CA (so the client trusts it as it trusts the API
server), forwards every request with the client's own credentials, and, while `faults` is on, answers a share of
them itself: 409 Conflict for writes, 500 Internal Server Error, a hang past the client's patience, a dropped
connection; watch streams are cut after a few events. `watch_errors = N` answers the next N watches with an
ERROR event carrying a 500 Status, as the API server ends a watch it cannot serve (the watch protocol of
https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes: an ERROR event's
object is a Status). Counts of what it did are kept for the assertions.
"""

from __future__ import annotations

import contextlib
import random
import socket
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class FaultProxy:
    def __init__(self, upstream: str, ca: Path, cert: Path, key: Path, *, seed: int = 7) -> None:
        self.upstream = upstream
        self.faults = False
        self.watch_errors = 0
        self._watching: set[socket.socket] = set()
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._http = httpx.Client(verify=ssl.create_default_context(cafile=str(ca)),
                                  timeout=httpx.Timeout(10, read=None), http2=False)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def _roll(self) -> float:
        with self._lock:
            return self._random.random()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        watch = "watch=true" in request.path or "watch=1" in request.path
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        if watch and self._take_watch_error():
            return self._watch_error(request)
        if watch:
            with self._lock:
                self._watching.add(request.connection)
            try:
                return self._relay(request, body, watch)
            finally:
                with self._lock:
                    self._watching.discard(request.connection)
        return self._relay(request, body, watch)

    def cut_watches(self) -> None:
        """Drop every watch stream open now: the client starts new ones (which `watch_errors` may answer)."""
        with self._lock:
            open_now = list(self._watching)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _relay(self, request: BaseHTTPRequestHandler, body: bytes | None, watch: bool) -> None:
        if self.faults and not watch:
            roll = self._roll()
            if roll < 0.08 and request.command in ("PATCH", "PUT", "POST"):
                return self._answer(request, 409, "conflict", "Conflict")
            if roll < 0.16:
                return self._answer(request, 500, "server-error", "InternalError")
            if roll < 0.20:
                self.injected["timeout"] += 1
                time.sleep(15)  # past the client's patience
                return self._drop(request)
            if roll < 0.24:
                self.injected["dropped"] += 1
                return self._drop(request)
        # Asking for `identity`, the API server answers uncompressed, so the bytes relayed are what the client
        # reads (a gzip body relayed without its Content-Encoding would be garbage to it).
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in _HOP | {"host", "accept-encoding"}}
        headers["Accept-Encoding"] = "identity"  # httpx would ask for gzip itself
        try:
            with self._http.stream(request.command, self.upstream + request.path, headers=headers,
                                   content=body) as answer:
                request.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in _HOP:
                        request.send_header(name, value)
                request.send_header("Transfer-Encoding", "chunked")
                request.end_headers()
                cut = time.monotonic() + 2 + self._roll() * 3 if (self.faults and watch) else None
                for chunk in answer.iter_raw():
                    request.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    request.wfile.flush()
                    if cut is not None and time.monotonic() > cut:
                        self.injected["watch-cut"] += 1
                        return self._drop(request)
                request.wfile.write(b"0\r\n\r\n")
                request.wfile.flush()
        except (OSError, httpx.HTTPError):
            self._drop(request)

    def _take_watch_error(self) -> bool:
        with self._lock:
            if self.watch_errors <= 0:
                return False
            self.watch_errors -= 1
            return True

    def _watch_error(self, request: BaseHTTPRequestHandler) -> None:
        self.injected["watch-error"] += 1
        event = (b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                 b'"message":"injected by the test proxy","reason":"InternalError","code":500}}\n')
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Transfer-Encoding", "chunked")
        request.end_headers()
        request.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n0\r\n\r\n")
        request.wfile.flush()

    def _answer(self, request: BaseHTTPRequestHandler, code: int, what: str, reason: str) -> None:
        self.injected[what] += 1
        payload = (f'{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure",'
                   f'"message":"injected by the test proxy","reason":"{reason}","code":{code}}}').encode()
        request.send_response(code)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _drop(self, request: BaseHTTPRequestHandler) -> None:
        request.close_connection = True
        with contextlib.suppress(OSError):
            request.connection.shutdown(socket.SHUT_RDWR)
