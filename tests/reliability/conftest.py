"""Fixtures of the reliability suite: sizes, private servers, direct counts.

Sizes come from ``PUG_RELIABILITY_SCALE``: ``ci`` (the default, small
enough for every ``pytest`` run) or ``full`` (the sizes recorded in
``docs/reliability.md``).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing

import pytest

from tests.conftest import BACKENDS, require_postgres
from tests.helpers.live import create_postgres_database, drop_postgres_database
from tests.reliability.servers import Server

SCALES = {
    "ci": {
        "sdk_events": 10_000,
        "sdk_threads": 4,
        "spool_events": 3_000,
        "kill_seconds": 2.0,
        "kill_cycles": 2,
        "outage_cycles": 2,
        "load_seconds": 5.0,
        "load_processes": 3,
        "fuzz_examples": 150,
    },
    "full": {
        "sdk_events": 100_000,
        "sdk_threads": 8,
        "spool_events": 20_000,
        "kill_seconds": 5.0,
        "kill_cycles": 5,
        "outage_cycles": 5,
        "load_seconds": 20.0,
        "load_processes": 4,
        "fuzz_examples": 1_500,
    },
}


def scale_name() -> str:
    name = os.environ.get("PUG_RELIABILITY_SCALE", "ci").strip().lower()
    if name not in SCALES:
        raise pytest.UsageError(
            f"PUG_RELIABILITY_SCALE must be one of {', '.join(SCALES)}, got {name!r}"
        )
    return name


@pytest.fixture(scope="session")
def sizes() -> dict[str, float]:
    """The run sizes of the selected scale."""
    return SCALES[scale_name()]


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """An empty database of its own for one test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pug.db'}"
        return
    require_postgres()
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def servers(tmp_path):
    """Start :class:`Server` instances; every one left running is killed."""
    started: list[Server] = []

    def start(database_url: str, **options) -> Server:
        backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
        ready_path = options.pop("ready_path", "/ready")
        server = Server(database_url, backend, tmp_path, **options)
        started.append(server)
        return server.start(ready_path)

    yield start
    for server in started:
        server.stop()


def stored_counts(database_url: str, project_id: int) -> tuple[int, int]:
    """Return the event rows of a project and their distinct message ids.

    Reads the database directly, not through the API, so a bug in the API's
    paging cannot hide a lost or duplicated row.
    """
    sql = "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM event WHERE project_id = %s"
    rows = query(database_url, sql, (project_id,))
    return int(rows[0][0]), int(rows[0][1])


def stored_message_ids(database_url: str, project_id: int) -> set[str]:
    """Return every stored message id of a project."""
    rows = query(
        database_url,
        "SELECT message_id FROM event WHERE project_id = %s",
        (project_id,),
    )
    return {row[0] for row in rows}


def query(database_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one read query on SQLite or PostgreSQL; ``%s`` marks parameters."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(path, timeout=30)) as connection:
            return connection.execute(sql.replace("%s", "?"), params).fetchall()
    import psycopg2

    with closing(psycopg2.connect(database_url, connect_timeout=10)) as connection:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def assert_clean_log(server) -> None:
    """Fail when the server log holds an unhandled error or a traceback."""
    log = server.log_text()
    assert "unhandled error" not in log, log[-4000:]
    assert "Traceback" not in log, log[-4000:]
