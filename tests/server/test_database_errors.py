"""503 with Retry-After when the database cannot commit or cannot be reached."""

from __future__ import annotations

import contextlib
import sqlite3
import threading

import pytest
import requests

from pug_server.db import _execute_when_unlocked
from tests.conftest import require_postgres
from tests.helpers.live import Api, create_project, free_port, start_server

BATCH = [
    {"type": "track", "userId": "u-1", "event": "Locked", "messageId": "lock-1"},
    {"type": "track", "userId": "u-2", "event": "Locked", "messageId": "lock-2"},
]


@contextlib.contextmanager
def sqlite_server(tmp_path, busy_timeout_ms: int):
    """Run a server on its own SQLite file with the given busy timeout."""
    path = tmp_path / "server.db"
    url = f"sqlite:///{path}"
    server = start_server(
        url,
        "sqlite",
        tmp_path,
        workers=1,
        env={"PUG_SQLITE_BUSY_TIMEOUT_MS": str(busy_timeout_ms)},
    )
    api = Api(server, create_project(url))
    try:
        yield api, path
    finally:
        api.session.close()
        server.stop()


@pytest.fixture
def locked_sqlite(tmp_path):
    """A server on its own SQLite file, with a 200 ms busy timeout."""
    with sqlite_server(tmp_path, 200) as pair:
        yield pair


@contextlib.contextmanager
def write_lock_held(path):
    """Hold SQLite's write lock on *path* from another connection."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=5)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_locked_sqlite_503_then_retry(locked_sqlite):
    api, path = locked_sqlite
    with write_lock_held(path):
        response = api.batch(BATCH)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "unavailable"
    assert api.get("/v1/events").json()["events"] == []
    retried = api.send(BATCH)
    assert retried["accepted"] == 2
    assert retried["duplicates"] == 0


def test_locked_sqlite_stores_no_rejects(locked_sqlite):
    api, path = locked_sqlite
    bad = [{"type": "track", "messageId": "bad-1"}]
    with write_lock_held(path):
        response = api.batch(BATCH + bad)
    assert response.status_code == 503
    assert api.get("/v1/rejected").json()["rejected"] == []


def test_locked_sqlite_logs_one_line(locked_sqlite):
    api, path = locked_sqlite
    with write_lock_held(path):
        assert api.batch(BATCH).status_code == 503

    log = api.server.log_text()
    lines = [line for line in log.splitlines() if "database unavailable" in line]
    assert len(lines) == 1
    assert "WARNING" in lines[0]
    assert "database is locked" in lines[0]
    assert "path=/v1/batch" in lines[0]
    assert f"project_id={api.project.id}" in lines[0]
    assert "Traceback" not in log


@pytest.fixture
def patient_sqlite(tmp_path):
    """A server on its own SQLite file, with a 5 s busy timeout."""
    with sqlite_server(tmp_path, 5000) as pair:
        yield pair


def release_later(path, seconds: float) -> threading.Thread:
    """Hold the write lock on *path* now and release it after *seconds*."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    def release():
        holder.execute("ROLLBACK")
        holder.close()

    timer = threading.Timer(seconds, release)
    timer.start()
    return timer


def test_batch_waits_for_released_lock(patient_sqlite):
    api, path = patient_sqlite
    timer = release_later(path, 0.5)
    try:
        answer = api.send(BATCH)
    finally:
        timer.join(timeout=10)
    assert answer["accepted"] == 2
    assert len(api.get("/v1/events").json()["events"]) == 2


def lock_pair(tmp_path):
    path = tmp_path / "pair.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode = wal")
    holder.execute("CREATE TABLE t (x)")
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    return holder, waiter


def test_begin_returns_once_unlocked(tmp_path):
    holder, waiter = lock_pair(tmp_path)
    holder.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.2, holder.execute, args=("ROLLBACK",))
    timer.start()
    try:
        _execute_when_unlocked(waiter.cursor(), "BEGIN IMMEDIATE", 5.0)
        assert waiter.in_transaction
    finally:
        timer.join(timeout=10)
        waiter.close()
        holder.close()


def test_begin_raises_after_timeout(tmp_path):
    holder, waiter = lock_pair(tmp_path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            _execute_when_unlocked(waiter.cursor(), "BEGIN IMMEDIATE", 0.2)
        assert not waiter.in_transaction
    finally:
        holder.execute("ROLLBACK")
        waiter.close()
        holder.close()


def test_begin_raises_other_errors_at_once(tmp_path):
    holder, waiter = lock_pair(tmp_path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="syntax error"):
            _execute_when_unlocked(waiter.cursor(), "BEGIN SIDEWAYS", 5.0)
    finally:
        waiter.close()
        holder.close()


@pytest.fixture
def unreachable_postgres(tmp_path):
    """A server pointed at a PostgreSQL port where nothing listens."""
    require_postgres()
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/pug"
    server = start_server(url, "postgresql", tmp_path, workers=1, ready_path="/health")
    yield server
    server.stop()


def test_unreachable_database_ready_503(unreachable_postgres):
    ready = requests.get(unreachable_postgres.url + "/ready", timeout=30)
    assert ready.status_code == 503
    assert ready.headers["Retry-After"] == "2"
    assert ready.json() == {"status": "unavailable", "database": "postgresql"}


def test_unreachable_database_health_200(unreachable_postgres):
    health = requests.get(unreachable_postgres.url + "/health", timeout=30)
    assert health.status_code == 200


def test_unreachable_database_batch_503(unreachable_postgres):
    response = requests.post(
        unreachable_postgres.url + "/v1/batch",
        json={"batch": BATCH},
        auth=("pw_any-key", ""),
        timeout=30,
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "nothing was stored" in response.json()["error"]["message"]


def test_unreachable_database_logged_without_secrets(unreachable_postgres):
    requests.get(unreachable_postgres.url + "/ready", timeout=30)
    log = unreachable_postgres.log_text()
    assert "database unreachable" in log
    assert "postgres@" not in log
