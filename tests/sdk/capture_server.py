"""An HTTP server on 127.0.0.1 that records the batches a client sends.

It speaks just enough of Pug's ingestion API for SDK tests: ``POST
/v1/batch`` (and any other POST path) is gunzipped, parsed and recorded,
and gets a scripted response or Pug's 200 response accepting every
message. End-to-end tests may reuse it as a stand-in server::

    with CaptureServer() as server:
        server.respond_with(503, headers={"Retry-After": "0"})
        client = pug.Client("key", host=server.url)
        ...
        server.wait_for_messages(10, timeout=5)
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

# A body builder gets the request's parsed JSON and returns the JSON response body.
BodyBuilder = Callable[[Any], Any]


@dataclasses.dataclass
class CapturedRequest:
    """One request as the server received it, body already gunzipped."""

    path: str
    headers: dict[str, str]
    raw_body: bytes
    body: bytes
    payload: Any
    received_at: float
    status: int
    client_port: int

    @property
    def batch(self) -> list[dict[str, Any]]:
        """The messages of a ``/v1/batch`` request, empty for anything else."""
        if isinstance(self.payload, dict) and isinstance(
            self.payload.get("batch"), list
        ):
            return self.payload["batch"]
        return []

    @property
    def write_key(self) -> str | None:
        """The HTTP Basic user name, which is where clients send the write key."""
        header = self.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
        return user


@dataclasses.dataclass
class ScriptedResponse:
    status: int
    body: Any
    headers: dict[str, str]
    delay: float


def accept_all(payload: Any) -> dict[str, Any]:
    """Return Pug's 200 response body accepting every message of a batch."""
    batch = payload.get("batch", []) if isinstance(payload, dict) else []
    return {"accepted": len(batch), "duplicates": 0, "rejected": []}


class CaptureServer:
    """Record requests and answer them as scripted; see the module docstring."""

    def __init__(self) -> None:
        self.requests: list[CapturedRequest] = []
        self._script: list[ScriptedResponse] = []
        self._default = ScriptedResponse(200, accept_all, {}, 0.0)
        self._changed = threading.Condition()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.capture = self  # type: ignore[attr-defined]
        # A short poll interval keeps stop() (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="capture-server",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """The base URL to pass as a client's ``host``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CaptureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def respond_with(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and ``body``.

        ``body`` may be JSON data, bytes, or a :data:`BodyBuilder`;
        ``None`` gives ``{}`` for errors and :func:`accept_all` for 2xx.
        ``delay`` seconds pass before the answer, to provoke timeouts.
        """
        if body is None:
            body = accept_all if 200 <= status < 300 else {}
        with self._changed:
            for _ in range(times):
                self._script.append(
                    ScriptedResponse(status, body, headers or {}, delay)
                )

    def set_default(self, status: int, body: Any = None, **headers: str) -> None:
        """Answer every unscripted request with ``status`` from now on."""
        if body is None:
            body = accept_all if 200 <= status < 300 else {}
        self._default = ScriptedResponse(status, body, headers, 0.0)

    def next_response(self) -> ScriptedResponse:
        with self._changed:
            return self._script.pop(0) if self._script else self._default

    def record(self, request: CapturedRequest) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def batches(self) -> list[list[dict[str, Any]]]:
        """Return the batch of every request answered with 2xx, oldest first."""
        with self._changed:
            return [r.batch for r in self.requests if 200 <= r.status < 300]

    def messages(self) -> list[dict[str, Any]]:
        """Return every message of the batches answered with 2xx."""
        return [message for batch in self.batches() for message in batch]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` requests arrived; return False at the timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.requests) >= count, timeout)

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until 2xx batches hold ``count`` messages; False at the timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                delivered = sum(
                    len(r.batch) for r in self.requests if 200 <= r.status < 300
                )
                remaining = deadline - time.monotonic()
                if delivered >= count:
                    return True
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as a real server behind requests would.
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY the header and body writes meet the client's
        # delayed ACK, which adds 40 ms to every answer on a kept-alive socket.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        capture: CaptureServer = self.server.capture  # type: ignore[attr-defined]
        raw_body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = raw_body
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(raw_body)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        response = capture.next_response()
        capture.record(
            CapturedRequest(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                raw_body=raw_body,
                body=body,
                payload=payload,
                received_at=time.monotonic(),
                status=response.status,
                client_port=self.client_address[1],
            )
        )
        if response.delay:
            time.sleep(response.delay)
        self._answer(response, payload)

    def _answer(self, response: ScriptedResponse, payload: Any) -> None:
        answer = response.body(payload) if callable(response.body) else response.body
        if not isinstance(answer, bytes):
            answer = json.dumps(answer).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a read timeout under test); nothing to answer.
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet: requests are recorded, not logged."""
