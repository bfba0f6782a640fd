"""The database goes away and comes back; the server recovers by itself.

PostgreSQL is reached through a :class:`TcpProxy` that the test cuts and
restores, so the machine's PostgreSQL server is never stopped. SQLite is
locked by another writer for longer than the busy timeout. While the
database is away, writes get 503 with ``Retry-After`` and nothing is
stored; once it is back the same server process answers 200 again, and
an SDK client that kept sending throughout loses nothing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from urllib.parse import urlparse

import pytest
import requests

import pug
from tests.conftest import require_postgres
from tests.helpers.live import (
    Api,
    create_postgres_database,
    create_project,
    drop_postgres_database,
)
from tests.reliability.conftest import stored_counts
from tests.reliability.faults import TcpProxy

OUTAGE_SECONDS = 3.0
RECOVERY_TIMEOUT_SECONDS = 30
SDK_EVENTS = 2_000


class PostgresOutage:
    """Cut and restore a TCP proxy in front of PostgreSQL."""

    backend = "postgresql"

    def __init__(self, database_url: str) -> None:
        parsed = urlparse(database_url)
        self.proxy = TcpProxy(
            (parsed.hostname or "127.0.0.1", parsed.port or 5432)
        ).start()
        self.server_url = database_url.replace(
            f":{parsed.port or 5432}/", f":{self.proxy.port}/", 1
        )

    def begin(self) -> None:
        self.proxy.cut()

    def end(self) -> None:
        self.proxy.restore()

    def close(self) -> None:
        self.proxy.close()


class SqliteLock:
    """Hold SQLite's write lock from another connection."""

    backend = "sqlite"

    def __init__(self, database_url: str) -> None:
        self.path = database_url.removeprefix("sqlite:///")
        self.server_url = database_url
        self.holder: sqlite3.Connection | None = None

    def begin(self) -> None:
        self.holder = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        self.holder.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        if self.holder is not None:
            self.holder.execute("ROLLBACK")
            self.holder.close()
            self.holder = None

    def close(self) -> None:
        self.end()


@pytest.fixture(params=["sqlite", "postgresql"])
def outage(request, tmp_path, servers):
    """A running server, its project and a way to take its database away."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'pug.db'}"
        fault = SqliteLock(url)
    else:
        require_postgres()
        url = create_postgres_database()
        fault = PostgresOutage(url)
    server = servers(fault.server_url, env={"PUG_SQLITE_BUSY_TIMEOUT_MS": "200"})
    project = create_project(url)
    api = Api(server, project)
    yield fault, api, url
    api.session.close()
    fault.close()
    server.stop()
    if request.param == "postgresql":
        drop_postgres_database(url)


def track(message_id: str) -> list[dict]:
    return [
        {"type": "track", "userId": "u-1", "event": "Outage", "messageId": message_id}
    ]


def wait_until_ready(url: str) -> float:
    """Poll ``/ready`` until 200; return the seconds it took."""
    started = time.monotonic()
    deadline = started + RECOVERY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if requests.get(url + "/ready", timeout=10).status_code == 200:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"/ready not 200 within {RECOVERY_TIMEOUT_SECONDS}s")


def test_outage_answers_503_then_recovers(outage, sizes):
    fault, api, url = outage
    assert api.send(track("before"))["accepted"] == 1
    for cycle in range(sizes["outage_cycles"]):
        fault.begin()
        try:
            during = api.batch(track(f"during-{cycle}"))
            ready = requests.get(api.server.url + "/ready", timeout=10)
        finally:
            fault.end()
        assert during.status_code == 503
        assert during.headers.get("Retry-After") == "2"
        assert during.json()["error"]["code"] == "unavailable"
        assert ready.status_code == 503
        assert ready.headers.get("Retry-After") == "2"
        wait_until_ready(api.server.url)
        retried = api.batch(track(f"during-{cycle}"))
        assert retried.status_code == 200, retried.text
        assert retried.json()["accepted"] == 1
    rows, distinct = stored_counts(url, api.project.id)
    assert rows == sizes["outage_cycles"] + 1
    assert distinct == rows


def test_sdk_keeps_sending_through_outage(outage):
    fault, api, url = outage
    client = pug.Client(
        api.project.write_key,
        api.server.url,
        flush_at=100,
        max_retries=200,
        backoff_factor=0.05,
        backoff_max=1.0,
        timeout=(2.0, 30.0),
        max_queue_size=SDK_EVENTS,
        flush_on_exit=False,
    )
    outage_done = threading.Event()

    def take_database_away() -> None:
        time.sleep(0.5)
        fault.begin()
        time.sleep(OUTAGE_SECONDS)
        fault.end()
        outage_done.set()

    chaos = threading.Thread(target=take_database_away, daemon=True)
    chaos.start()
    try:
        started = time.monotonic()
        for index in range(SDK_EVENTS):
            client.track(
                "u-sdk", "Through Outage", {"index": index}, message_id=f"sdk-{index}"
            )
            # Spread the calls over the outage, so some batches meet it.
            if index % 100 == 0 and time.monotonic() - started < OUTAGE_SECONDS + 1:
                time.sleep(0.2)
        delivered = client.flush(timeout=120)
        stats = client.stats()
    finally:
        client.close(timeout=5)
        chaos.join(timeout=30)
    rows, distinct = stored_counts(url, api.project.id)
    assert outage_done.is_set()
    assert delivered
    assert stats["dropped"] == {}
    assert stats["retried"] > 0
    assert rows == SDK_EVENTS
    assert distinct == SDK_EVENTS
