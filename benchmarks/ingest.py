"""Ingestion throughput: HTTP through gunicorn beside the raw storage path.

Usage::

    python benchmarks/ingest.py [--batches 200] [--threads 4] [--runs 3]
        [--backends sqlite,postgresql]

The end-to-end figure posts pre-built ``/v1/batch`` bodies of 100 track
messages from several client threads (one ``http.client`` connection each) to a
``pug-server serve`` with 2 gunicorn workers on 127.0.0.1, after a warm-up
that creates every person and group the measured batches name. The raw
figure is the floor any server pays: ``json.loads`` of the same bodies and
``sqlite3`` ``executemany`` of the same rows into a table of the same
columns and unique key (WAL, ``synchronous=NORMAL``, one transaction per
batch), in one process. It is measured right before and right after each
HTTP figure, each time in a fresh file, and the HTTP figure is compared
with the mean of the two, because the load of a shared machine drifts
within minutes.
Each run prints its ratios; the last line gives the median of the runs.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pug_server.services.ingest import EVENT_COLUMNS  # noqa: E402
from tests.helpers.live import (  # noqa: E402
    create_postgres_database,
    create_project,
    drop_postgres_database,
    postgres_problem,
    start_server,
)

BATCH_SIZE = 100


def build_bodies(batches: int, run: str) -> list[bytes]:
    """Return *batches* JSON bodies of 100 track messages with unique ids."""
    sent_at = dt.datetime.now(dt.timezone.utc).isoformat()
    bodies = []
    for b in range(batches):
        messages = [
            {
                "type": "track",
                "messageId": f"{run}-{b}-{i}",
                "userId": f"user-{(b * BATCH_SIZE + i) % 500}",
                "event": "Document Edited",
                "timestamp": sent_at,
                "properties": {"words": i, "doc": f"d-{i % 40}", "plan": "pro"},
                "context": {
                    "library": {"name": "bench", "version": "1.0"},
                    "groups": {"team": f"t-{i % 25}"},
                },
            }
            for i in range(BATCH_SIZE)
        ]
        bodies.append(json.dumps({"batch": messages, "sentAt": sent_at}).encode())
    return bodies


def measure_raw(bodies: list[bytes], folder: Path) -> float:
    """Return events per second of json.loads plus sqlite3 executemany."""
    path = folder / "raw.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=wal")
    connection.execute("PRAGMA synchronous=normal")
    connection.execute(
        "CREATE TABLE event (id INTEGER PRIMARY KEY, "
        + ", ".join(EVENT_COLUMNS)
        + ", UNIQUE (project_id, message_id))"
    )
    insert = (
        f"INSERT INTO event ({', '.join(EVENT_COLUMNS)}) VALUES "
        f"({', '.join('?' * len(EVENT_COLUMNS))}) ON CONFLICT DO NOTHING"
    )
    start = time.perf_counter()
    for body in bodies:
        payload = json.loads(body)
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        rows = [
            (
                1,
                m["messageId"],
                m["type"],
                m["event"],
                None,
                m["userId"],
                None,
                m["userId"],
                None,
                None,
                None,
                m["timestamp"],
                m["timestamp"],
                payload["sentAt"],
                now,
                0,
                json.dumps(m["properties"]),
                None,
                json.dumps(m["context"]),
                None,
                json.dumps(m["context"]["groups"]),
            )
            for m in payload["batch"]
        ]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, rows)
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return len(bodies) * BATCH_SIZE / elapsed


def measure_http(url: str, write_key: str, bodies: list[bytes], threads: int) -> float:
    """Return events per second accepted over HTTP from *threads* clients.

    Each client thread posts with :mod:`http.client`, whose cost per request
    is a fraction of ``requests``'s, so that less of the two cores goes to
    the load generator.
    """
    parts = urlsplit(url)
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Basic "
        + base64.b64encode(f"{write_key}:".encode()).decode("ascii"),
    }
    chunks = [bodies[i::threads] for i in range(threads)]
    failures: list[str] = []

    def send(chunk: list[bytes]) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            for body in chunk:
                connection.request("POST", "/v1/batch", body=body, headers=headers)
                response = connection.getresponse()
                body_read = response.read()
                if (
                    response.status != 200
                    or json.loads(body_read)["accepted"] != BATCH_SIZE
                ):
                    failures.append(body_read[:200].decode("utf-8", "replace"))
        finally:
            connection.close()

    workers = [threading.Thread(target=send, args=(chunk,)) for chunk in chunks]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} batches failed, first: {failures[0]}")
    return len(bodies) * BATCH_SIZE / elapsed


def run_backend(
    backend: str, bodies: list[bytes], warmup: list[bytes], threads: int, folder: Path
) -> float:
    if backend == "sqlite":
        path = folder / "server.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = create_postgres_database()
    server = start_server(url, backend, folder, workers=2)
    try:
        project = create_project(url)
        measure_http(server.url, project.write_key, warmup, threads)
        return measure_http(server.url, project.write_key, bodies, threads)
    finally:
        server.stop()
        if backend == "postgresql":
            drop_postgres_database(url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--batches", type=int, default=200, help="batches of 100 per run"
    )
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument(
        "--runs", type=int, default=1, help="runs; the median ratio is printed"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    if not 1 <= args.batches <= 2000:
        parser.error("--batches must be 1 to 2000")
    if not 1 <= args.runs <= 5:
        parser.error("--runs must be 1 to 5")
    backends = args.backends.split(",")
    if "postgresql" in backends and postgres_problem():
        print(f"skipping postgresql: {postgres_problem()}")
        backends.remove("postgresql")
    ratios: dict[str, list[float]] = {backend: [] for backend in backends}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bodies = build_bodies(args.batches, "run")
        # The warm-up names all 500 users and 25 teams of the measured
        # batches, so those measure steady state: known persons and groups.
        warmup = build_bodies(max(args.threads * 2, 8), "warm")
        for run in range(1, args.runs + 1):
            for backend in backends:
                raw_before = measure_raw(bodies, folder)
                rate = run_backend(backend, bodies, warmup, args.threads, folder)
                raw_after = measure_raw(bodies, folder)
                raw = (raw_before + raw_after) / 2
                ratios[backend].append(rate / raw)
                print(
                    f"run {run}: raw {raw_before:,.0f} and {raw_after:,.0f} events/s, "
                    f"http {backend} {rate:,.0f} events/s = {rate / raw:.1%} of their mean"
                )
    for backend, values in ratios.items():
        median = statistics.median(values)
        print(f"median of {len(values)} runs, http {backend}: {median:.1%} of raw")
    return 0


if __name__ == "__main__":
    sys.exit(main())
