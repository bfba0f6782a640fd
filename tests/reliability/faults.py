"""Fault-injecting proxies on 127.0.0.1, run in threads of the test process.

:class:`FaultProxy` sits in front of a Pug server and answers each HTTP
request by a schedule: forward it, answer 503 or 429 itself, or close the
socket before or after forwarding. Closing after forwarding is the case
that tests deduplication: the server stored the batch, the client saw a
failure and sends it again.

:class:`TcpProxy` pipes bytes to PostgreSQL and can be cut (listener closed,
open connections dropped) and restored on the same port, to simulate the
database going away without touching the shared PostgreSQL server.
"""

from __future__ import annotations

import http.client
import itertools
import logging
import socket
import threading
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

logger = logging.getLogger(__name__)

FORWARD = "forward"
STATUS_503 = "503"
STATUS_429 = "429"
CLOSE_BEFORE = "close_before"
CLOSE_AFTER = "close_after"
ACTIONS = (FORWARD, STATUS_503, STATUS_429, CLOSE_BEFORE, CLOSE_AFTER)

#: Twenty requests: 11 forwarded, a burst of 3 503s, a burst of 2 429s, 2
#: connections dropped unforwarded and 2 dropped after the server answered.
DEFAULT_SCHEDULE = (
    [FORWARD] * 4
    + [STATUS_503] * 3
    + [FORWARD] * 3
    + [STATUS_429] * 2
    + [FORWARD] * 2
    + [CLOSE_BEFORE, FORWARD, CLOSE_AFTER, FORWARD, CLOSE_BEFORE, CLOSE_AFTER]
)
UPSTREAM_TIMEOUT_SECONDS = 30
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
}


class FaultProxy:
    """An HTTP proxy that applies *schedule* to requests in arrival order.

    :param upstream_port: the port of the Pug server on 127.0.0.1.
    :param schedule: actions from :data:`ACTIONS`, repeated in a cycle.
    :param paths: only requests whose path starts with one of these get the
        schedule; others are forwarded (so health checks pass through).
    """

    def __init__(
        self,
        upstream_port: int,
        schedule: Sequence[str] = DEFAULT_SCHEDULE,
        paths: Sequence[str] = ("/v1/batch",),
    ) -> None:
        unknown = set(schedule) - set(ACTIONS)
        if unknown:
            raise ValueError(f"unknown proxy actions {sorted(unknown)}; use {ACTIONS}")
        self.upstream_port = upstream_port
        self.paths = tuple(paths)
        self.outcomes: Counter[str] = Counter()
        self._cycle = itertools.cycle(schedule)
        self._lock = threading.Lock()
        self._enabled = True
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def set_enabled(self, enabled: bool) -> None:
        """Forward every request while disabled; apply the schedule when enabled."""
        with self._lock:
            self._enabled = enabled

    def next_action(self, path: str) -> str:
        with self._lock:
            if not self._enabled or not path.startswith(self.paths):
                return FORWARD
            return next(self._cycle)

    def count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(_FaultHandler):
            owner = proxy

        return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: tuple) -> None:
        # A client killed mid-request (the spool test SIGKILLs its sender)
        # breaks the pipe; socketserver would print a traceback to stderr.
        logger.info("fault proxy connection failed client=%s", client_address)


class _FaultHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # The default handler writes every request to stderr.
        pass

    def do_GET(self) -> None:  # noqa: N802 - the name http.server looks up
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        action = self.owner.next_action(self.path)
        if action == CLOSE_BEFORE:
            self.owner.count(CLOSE_BEFORE)
            self._drop_connection()
            return
        if action in (STATUS_503, STATUS_429):
            self.owner.count(action)
            self._answer_status(int(action))
            return
        try:
            status, headers, payload = self._forward(body)
        except OSError as exc:
            # The server is down (stopped, restarting): the client sees a
            # dropped connection, as it would without the proxy.
            logger.info("upstream unreachable path=%s error=%s", self.path, exc)
            self.owner.count("upstream_down")
            self._drop_connection()
            return
        if action == CLOSE_AFTER:
            self.owner.count(CLOSE_AFTER if status == 200 else f"close_after_{status}")
            self._drop_connection()
            return
        self.owner.count(f"forwarded_{status}")
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.owner.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            headers = {
                name: value
                for name, value in self.headers.items()
                if name.lower() not in HOP_HEADERS
            }
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _answer_status(self, status: int) -> None:
        payload = b'{"error": {"code": "injected", "message": "fault proxy", "details": null}}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _drop_connection(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class TcpProxy:
    """A byte pipe from a port on 127.0.0.1 to ``target``, which can be cut.

    While cut, the listening socket is closed (new connections are refused)
    and every open connection has been dropped.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.accepted = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name="tcp-proxy", daemon=True
        )
        self._thread.start()
        return self

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            open_sockets, self._sockets = self._sockets, set()
        for sock in open_sockets:
            _close(sock)

    def restore(self) -> None:
        """Listen again on the same port."""
        self.start()

    close = cut

    def _accept_loop(self, listener: socket.socket) -> None:
        listener.settimeout(0.2)
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError as exc:
                logger.info("tcp proxy cannot reach target error=%s", exc)
                _close(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self.accepted += 1
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=_pipe, args=(source, sink), name="tcp-pipe", daemon=True
                ).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
