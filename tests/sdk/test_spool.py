"""The durable SQLite spool: crashes, outages, restarts and shared files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pug._spool import Spool

SDK_ROOT = Path(__file__).resolve().parents[2] / "sdk"


def run_python(code: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(SDK_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spooled_rows(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT COUNT(*) FROM pug_spool").fetchone()[0]


def test_spool_delivers_and_empties(server, make_client, tmp_path):
    path = tmp_path / "spool.db"
    client = make_client(server.url, spool_path=path)
    for index in range(30):
        client.track("u-1", "E", {"i": index})
    assert client.flush(5) is True
    assert [m["properties"]["i"] for m in server.messages()] == list(range(30))
    assert spooled_rows(path) == 0


def test_spool_survives_crash_during_outage(server, tmp_path):
    path = tmp_path / "spool.db"
    server.set_default(503, {}, **{"Retry-After": "0"})
    result = run_python(f"""
        import os, pug
        client = pug.Client("key", {server.url!r}, spool_path={str(path)!r},
                            flush_interval=0.05, backoff_factor=0.01, backoff_max=0.05)
        for index in range(20):
            client.track("u-1", "E", {{"i": index}})
        client.flush(1.0)
        os._exit(9)  # a crash: no exit hook, no close
    """)
    assert result.returncode == 9, result.stderr
    assert spooled_rows(path) == 20
    assert server.messages() == []

    server.set_default(200)
    result = run_python(f"""
        import pug
        client = pug.Client("key", {server.url!r}, spool_path={str(path)!r},
                            flush_interval=0.05)
        assert client.flush(10), client.stats()
        client.close(5)
    """)
    assert result.returncode == 0, result.stderr
    assert sorted(m["properties"]["i"] for m in server.messages()) == list(range(20))
    assert spooled_rows(path) == 0


def test_spool_keeps_messages_past_max_retries(server, make_client, tmp_path):
    path = tmp_path / "spool.db"
    server.set_default(503, {}, **{"Retry-After": "0"})
    client = make_client(server.url, spool_path=path, max_retries=1)
    client.track("u-1", "E")
    assert client.flush(0.5) is False
    assert client.stats()["dropped"] == {}
    assert client.stats()["spooled"] == 1
    assert spooled_rows(path) == 1
    server.set_default(200)
    assert client.flush(5) is True
    assert len(server.messages()) == 1


def test_spool_drops_client_errors(server, make_client, tmp_path):
    path = tmp_path / "spool.db"
    server.respond_with(400, {"error": {"code": "not_a_batch", "message": "no"}})
    client = make_client(server.url, spool_path=path)
    client.track("u-1", "E")
    assert client.flush(5) is False
    assert client.stats()["dropped"] == {"http_error": 1}
    assert spooled_rows(path) == 0


def test_spool_close_keeps_undelivered(server, make_client, tmp_path):
    path = tmp_path / "spool.db"
    server.set_default(503, {}, **{"Retry-After": "0"})
    client = make_client(server.url, spool_path=path)
    for index in range(5):
        client.track("u-1", "E", {"i": index})
    client.close(0.5)
    assert spooled_rows(path) == 5
    assert client.stats()["dropped"] == {}


def test_spool_claims_are_exclusive(tmp_path):
    path = str(tmp_path / "spool.db")
    first, second = Spool(path), Spool(path)
    first.append([f'{{"i":{index}}}' for index in range(6)])
    claimed_first = first.claim(4, 10_000)
    claimed_second = second.claim(4, 10_000)
    assert [row_id for row_id, _ in claimed_first] == [1, 2, 3, 4]
    assert [row_id for row_id, _ in claimed_second] == [5, 6]


def test_spool_release_makes_rows_claimable(tmp_path):
    path = str(tmp_path / "spool.db")
    first, second = Spool(path), Spool(path)
    first.append(['{"i":1}'])
    rows = first.claim(10, 10_000)
    first.release([row_id for row_id, _ in rows])
    assert second.claim(10, 10_000) == rows


def test_spool_takes_over_dead_process_claims(tmp_path):
    path = str(tmp_path / "spool.db")
    result = run_python(f"""
        from pug._spool import Spool
        spool = Spool({path!r})
        spool.append(['{{"i":1}}'])
        assert spool.claim(10, 10_000)
    """)
    assert result.returncode == 0, result.stderr
    assert [body for _, body in Spool(path).claim(10, 10_000)] == ['{"i":1}']


def test_spool_claim_respects_byte_budget(tmp_path):
    spool = Spool(str(tmp_path / "spool.db"))
    spool.append(["x" * 100, "y" * 100, "z" * 100])
    assert [body[0] for _, body in spool.claim(10, 250)] == ["x", "y"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_spool_shared_by_fork_sends_once(server, tmp_path):
    path = tmp_path / "spool.db"
    result = run_python(f"""
        import os, pug
        client = pug.Client("key", {server.url!r}, spool_path={str(path)!r},
                            flush_interval=0.05, flush_on_exit=False)
        for index in range(10):
            client.track("parent", "E", {{"i": index}})
        pid = os.fork()
        if pid == 0:
            for index in range(10):
                client.track("child", "E", {{"i": index}})
            os._exit(0 if client.flush(10) else 3)
        assert client.flush(10)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        client.close(5)
    """)
    assert result.returncode == 0, result.stderr
    ids = [m["messageId"] for m in server.messages()]
    assert len(ids) == 20
    assert len(set(ids)) == 20
    assert spooled_rows(path) == 0


def leave_rows(path: Path, count: int, prefix: str = "old") -> None:
    """Store unclaimed rows, as a sender killed before delivering them leaves."""
    bodies = [
        json.dumps(
            {
                "type": "track",
                "messageId": f"{prefix}-{index}",
                "userId": "u-1",
                "event": "E",
                "properties": {"i": index},
            }
        )
        for index in range(count)
    ]
    spool = Spool(str(path))
    spool.append(bodies)
    spool.close()


def wait_until_unclaimed(path: Path, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(path) as connection:
            claimed = connection.execute(
                "SELECT COUNT(*) FROM pug_spool WHERE claimed_by IS NOT NULL"
            ).fetchone()[0]
        if not claimed:
            return True
        time.sleep(0.01)
    return False


def test_spool_flush_waits_for_previous_run(server, make_client, tmp_path):
    path = tmp_path / "spool.db"
    leave_rows(path, 20)
    server.respond_with(200, delay=0.2, times=4)
    client = make_client(server.url, spool_path=path, flush_at=5)
    assert client.flush(10) is True
    assert spooled_rows(path) == 0
    assert len(server.messages()) == 20


def test_spool_flush_false_while_previous_rows_wait(server, make_client, tmp_path):
    path = tmp_path / "spool.db"
    leave_rows(path, 3)
    server.set_default(503, {}, **{"Retry-After": "0"})
    client = make_client(server.url, spool_path=path, max_retries=1)
    assert client.flush(0.5) is False
    assert spooled_rows(path) == 3


def test_spool_close_drains_previous_run(server, make_client, tmp_path):
    path = tmp_path / "spool.db"
    leave_rows(path, 5)
    server.respond_with(503, headers={"Retry-After": "0"})
    # After the failed attempt the consumer would wait backoff_max seconds
    # before it tries the spool again; close() must not wait for that.
    client = make_client(server.url, spool_path=path, max_retries=0, backoff_max=30)
    assert server.wait_for_requests(1)
    assert wait_until_unclaimed(path)
    client.close(10)
    assert spooled_rows(path) == 0
    assert sorted(m["messageId"] for m in server.messages()) == [
        f"old-{index}" for index in range(5)
    ]


def test_spool_flush_skips_rows_of_live_sender(server, make_client, tmp_path):
    path = tmp_path / "spool.db"
    leave_rows(path, 3)
    other = Spool(str(path))
    assert len(other.claim(10, 10_000)) == 3
    client = make_client(server.url, spool_path=path)
    assert client.flush(2) is True
    assert spooled_rows(path) == 3
    assert server.messages() == []
    other.close()


def test_spool_flush_takes_over_dead_sender(server, make_client, tmp_path):
    path = tmp_path / "spool.db"
    client = make_client(server.url, spool_path=path)
    client.track("u-1", "E")
    assert client.flush(5) is True
    # Rows that a process claimed after this client opened the spool, and
    # that it never deleted because it exited.
    result = run_python(f"""
        import json
        from pug._spool import Spool
        spool = Spool({str(path)!r})
        spool.append([json.dumps({{"type": "track", "messageId": "dead-1",
                                   "userId": "u-1", "event": "E"}})])
        assert spool.claim(10, 10_000)
    """)
    assert result.returncode == 0, result.stderr
    assert client.flush(5) is True
    assert spooled_rows(path) == 0
    assert "dead-1" in {m["messageId"] for m in server.messages()}
