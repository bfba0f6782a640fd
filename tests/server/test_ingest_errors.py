"""How the server logs a batch answered 503 because the database is busy."""

from __future__ import annotations

import sqlite3

import pytest

from tests.helpers.live import Api, create_project, start_server

BATCH = [{"type": "track", "userId": "u-1", "event": "Locked", "messageId": "log-1"}]


@pytest.fixture
def locked_api(tmp_path):
    """A server on its own SQLite file with a 200 ms busy timeout, and the file."""
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    server = start_server(
        url, "sqlite", tmp_path, workers=1, env={"PUG_SQLITE_BUSY_TIMEOUT_MS": "200"}
    )
    api = Api(server, create_project(url))
    yield api, path
    api.session.close()
    server.stop()


def test_locked_sqlite_logs_one_line(locked_api):
    api, path = locked_api
    holder = sqlite3.connect(path, isolation_level=None, timeout=5)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert api.batch(BATCH).status_code == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    log = api.server.log_text()
    lines = [line for line in log.splitlines() if "database unavailable" in line]
    assert len(lines) == 1
    assert "WARNING" in lines[0]
    assert "database is locked" in lines[0]
    assert "path=/v1/batch" in lines[0]
    assert f"project_id={api.project.id}" in lines[0]
    assert "Traceback" not in log
