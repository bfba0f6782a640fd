"""SIGKILL of the whole server under load loses no acknowledged event.

Several threads post batches; every message id of a batch answered 200 is
recorded. The master and its workers are killed at once, the same command
starts the server again on the same port and database, and every recorded
id must be stored, once.
"""

from __future__ import annotations

import threading
import time

import requests

from tests.helpers.live import create_project
from tests.reliability.conftest import stored_counts, stored_message_ids

SENDER_THREADS = 4
BATCH_SIZE = 50
MAX_BATCHES_PER_THREAD = 10_000


class AcknowledgingSender:
    """Threads that post batches until stopped and record what got a 200."""

    def __init__(self, url: str, write_key: str, label: str) -> None:
        self.url = url + "/v1/batch"
        self.write_key = write_key
        self.label = label
        self.acknowledged: set[str] = set()
        self.failures = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True)
            for n in range(SENDER_THREADS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, worker: int) -> None:
        session = requests.Session()
        for number in range(MAX_BATCHES_PER_THREAD):
            if self._stop.is_set():
                break
            ids = [f"{self.label}-{worker}-{number}-{i}" for i in range(BATCH_SIZE)]
            batch = [
                {
                    "type": "track",
                    "userId": f"u-{i}",
                    "event": "Killed",
                    "messageId": mid,
                }
                for i, mid in enumerate(ids)
            ]
            try:
                response = session.post(
                    self.url,
                    json={"batch": batch},
                    auth=(self.write_key, ""),
                    timeout=10,
                )
            except requests.RequestException:
                with self._lock:
                    self.failures += 1
                time.sleep(0.05)
                continue
            if response.status_code == 200:
                with self._lock:
                    self.acknowledged.update(ids)
        session.close()


def test_sigkill_keeps_acknowledged_events(database_url, servers, sizes):
    server = servers(database_url)
    project = create_project(database_url)
    acknowledged: set[str] = set()
    for cycle in range(sizes["kill_cycles"]):
        sender = AcknowledgingSender(server.url, project.write_key, f"kill{cycle}")
        sender.start()
        time.sleep(sizes["kill_seconds"])
        server.kill()
        sender.stop()
        acknowledged |= sender.acknowledged
        # The same command, with no repair step, must come back ready.
        server.start()
        assert requests.get(server.url + "/ready", timeout=10).status_code == 200

    stored = stored_message_ids(database_url, project.id)
    rows, distinct = stored_counts(database_url, project.id)
    missing = acknowledged - stored
    assert len(acknowledged) > 0
    assert missing == set(), sorted(missing)[:10]
    assert rows == distinct
    assert server.starts == sizes["kill_cycles"] + 1
    print(
        f"sigkill: cycles={sizes['kill_cycles']} acknowledged={len(acknowledged)} "
        f"stored={rows} lost=0 unacknowledged_but_stored={len(stored - acknowledged)}"
    )


def test_restarted_server_accepts_batches(database_url, servers):
    server = servers(database_url)
    project = create_project(database_url)
    server.kill()
    server.start()
    batch = [{"type": "track", "userId": "u", "event": "After", "messageId": "after-1"}]
    response = requests.post(
        server.url + "/v1/batch",
        json={"batch": batch},
        auth=(project.write_key, ""),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
