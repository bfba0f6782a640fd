"""The SDK through 503s, 429s, dropped connections and server restarts.

Every event the app hands to ``pug.Client`` must be stored exactly once:
the stored row count and the count of distinct message ids both equal the
number sent, read from the database directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pug
from tests.helpers.live import create_project
from tests.reliability.conftest import stored_counts
from tests.reliability.faults import (
    CLOSE_AFTER,
    CLOSE_BEFORE,
    FORWARD,
    STATUS_429,
    STATUS_503,
    FaultProxy,
)

# The faults come first, so a short CI run meets every one of them; the
# long tail of forwards lets a full run make progress between bursts.
SCHEDULE = (
    [FORWARD] * 3
    + [STATUS_503] * 3
    + [FORWARD] * 2
    + [STATUS_429] * 2
    + [FORWARD]
    + [CLOSE_BEFORE] * 2
    + [FORWARD]
    + [CLOSE_AFTER] * 3
    + [FORWARD] * 25
)
DELIVERY_TIMEOUT_SECONDS = 300
RESTART_DOWN_SECONDS = 1.5
SDK_ROOT = Path(__file__).resolve().parents[2] / "sdk"


def patient_client(write_key: str, host: str, **options) -> pug.Client:
    """A client that retries long enough to outlast a server restart."""
    return pug.Client(
        write_key,
        host,
        flush_at=500,
        max_retries=200,
        backoff_factor=0.05,
        backoff_max=1.0,
        timeout=(2.0, 30.0),
        flush_on_exit=False,
        **options,
    )


def wait_for_count(
    database_url: str, project_id: int, target: int, timeout: float
) -> int:
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline:
        stored = stored_counts(database_url, project_id)[0]
        if stored >= target:
            break
        time.sleep(0.2)
    return stored


def restart_when_stored(server, database_url, project_id, target, restarts) -> None:
    """Stop the server once *target* rows are stored, then start it again."""
    wait_for_count(database_url, project_id, target, timeout=120)
    server.stop()
    time.sleep(RESTART_DOWN_SECONDS)
    server.start()
    restarts.append(time.monotonic())


def test_sdk_through_faults_loses_nothing(database_url, servers, sizes):
    total = sizes["sdk_events"]
    threads = sizes["sdk_threads"]
    server = servers(database_url)
    project = create_project(database_url)
    proxy = FaultProxy(server.port, SCHEDULE).start()
    client = patient_client(project.write_key, proxy.url, max_queue_size=total)
    restarts: list[float] = []
    chaos = threading.Thread(
        target=restart_when_stored,
        args=(server, database_url, project.id, total * 2 // 3, restarts),
        daemon=True,
    )
    chaos.start()

    def produce(thread_index: int) -> None:
        for index in range(thread_index, total, threads):
            client.track(
                f"user-{index % 500}",
                "Outage Event",
                {"index": index},
                message_id=f"outage-{index}",
            )

    producers = [threading.Thread(target=produce, args=(n,)) for n in range(threads)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join(timeout=120)
    try:
        delivered = client.flush(timeout=DELIVERY_TIMEOUT_SECONDS)
        stats = client.stats()
    finally:
        client.close(timeout=5)
        chaos.join(timeout=150)
        proxy.close()

    rows, distinct = stored_counts(database_url, project.id)
    assert delivered
    assert stats["dropped"] == {}
    assert stats["queued"] == total
    assert rows == total
    assert distinct == total
    assert restarts, "the server was never restarted"
    assert proxy.outcomes[STATUS_503] >= 3
    assert proxy.outcomes[STATUS_429] >= 2
    assert proxy.outcomes[CLOSE_BEFORE] >= 2
    assert proxy.outcomes[CLOSE_AFTER] >= 1
    assert proxy.outcomes["upstream_down"] >= 1
    print(
        f"sdk faults: sent={total} rows={rows} distinct={distinct} "
        f"outcomes={dict(proxy.outcomes)}"
    )


SPOOL_SENDER = """
import sys, time, pug

write_key, host, spool, total, mode = sys.argv[1:6]
total = int(total)
client = pug.Client(
    write_key, host, spool_path=spool, flush_at=200, max_retries=200,
    backoff_factor=0.05, backoff_max=1.0, timeout=(2.0, 30.0),
    max_queue_size=total, flush_on_exit=False,
)
if mode == "send":
    for index in range(total):
        client.track("spool-user", "Spooled", {"index": index},
                     message_id=f"spool-{index}")
    deadline = time.monotonic() + 60
    while client.stats()["pending"] and time.monotonic() < deadline:
        time.sleep(0.05)
    print("spooled", client.stats()["pending"], flush=True)
delivered = client.flush(timeout=240)
client.close(timeout=5)
print("delivered" if delivered else "not delivered", flush=True)
"""


def run_sender(args: list[str]) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(SDK_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SPOOL_SENDER), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def spool_rows(path: Path) -> int:
    import sqlite3

    connection = sqlite3.connect(path, timeout=10)
    try:
        return connection.execute("SELECT COUNT(*) FROM pug_spool").fetchone()[0]
    finally:
        connection.close()


def test_spool_survives_sender_sigkill(database_url, servers, sizes, tmp_path):
    total = sizes["spool_events"]
    server = servers(database_url)
    project = create_project(database_url)
    proxy = FaultProxy(server.port, SCHEDULE).start()
    spool = tmp_path / "spool.db"
    args = [project.write_key, proxy.url, str(spool), str(total)]

    first = run_sender([*args, "send"])
    try:
        line = first.stdout.readline()
        assert line.startswith("spooled 0"), line + first.stderr.read()
        stored = wait_for_count(database_url, project.id, total // 4, timeout=120)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
    left_in_spool = spool_rows(spool)

    second = run_sender([*args, "resume"])
    try:
        output, errors = second.communicate(timeout=280)
    finally:
        proxy.close()

    rows, distinct = stored_counts(database_url, project.id)
    assert first.returncode == -signal.SIGKILL
    assert stored < total, "the sender finished before it was killed"
    assert left_in_spool > 0
    assert "delivered" in output.split(), output + errors
    assert rows == total
    assert distinct == total
    assert spool_rows(spool) == 0
    print(
        f"spool kill: sent={total} stored_at_kill={stored} spooled_at_kill={left_in_spool} "
        f"rows={rows} distinct={distinct}"
    )
