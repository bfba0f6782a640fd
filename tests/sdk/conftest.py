"""Fixtures for the SDK tests: a capturing server and clients that clean up."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from capture_server import CaptureServer  # noqa: E402

import pug  # noqa: E402

# Settings that keep tests fast: short waits and no exit hook, because each
# test closes its clients itself.
FAST_OPTIONS: dict[str, Any] = {
    "flush_interval": 0.05,
    "backoff_factor": 0.01,
    "backoff_max": 0.05,
    "timeout": 2.0,
    "flush_on_exit": False,
}


@pytest.fixture
def server() -> Iterator[CaptureServer]:
    with CaptureServer() as capture:
        yield capture


@pytest.fixture
def make_client() -> Iterator[Callable[..., pug.Client]]:
    """Build clients with FAST_OPTIONS (overridable) and close them afterwards."""
    clients: list[pug.Client] = []

    def build(host: str = "http://127.0.0.1:9", **options: Any) -> pug.Client:
        client = pug.Client("test-write-key", host, **{**FAST_OPTIONS, **options})
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close(timeout=2)


@pytest.fixture(autouse=True)
def no_leaked_consumers() -> Iterator[None]:
    """Fail a test that leaves a consumer thread running after teardown."""
    before = {t for t in threading.enumerate() if t.name == "pug-consumer"}
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t.name == "pug-consumer" and t not in before and t.is_alive()
    ]
    for thread in leaked:
        thread.join(2)
    still_running = [t for t in leaked if t.is_alive()]
    assert not still_running, f"consumer threads left running: {still_running}"
