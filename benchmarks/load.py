"""Sustained load on a live Pug server: throughput, latency and memory.

Several sender processes post batches to ``/v1/batch`` as fast as the
server responds, for a bounded time. The run reports events per second,
batch latency percentiles, non-200 responses, and the resident memory of
the gunicorn master and workers (summed from ``/proc``) before and after.

    python benchmarks/load.py --backend sqlite --seconds 20 --processes 4

The server is started by this script on 127.0.0.1 and stopped at the end.
``tests/reliability/test_load.py`` runs a short version under pytest.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.live import (  # noqa: E402
    create_postgres_database,
    create_project,
    drop_postgres_database,
)
from tests.reliability.servers import Server  # noqa: E402

BATCH_SIZE = 100
MAX_BATCHES_PER_SENDER = 1_000_000


def make_batch(run: str, sender: int, number: int) -> bytes:
    messages = [
        {
            "type": "track",
            "userId": f"user-{(number * BATCH_SIZE + index) % 2000}",
            "event": "Load Event",
            "messageId": f"{run}-{sender}-{number}-{index}",
            "properties": {"index": index, "plan": "pro", "words": number % 97},
            "context": {"groups": {"team": f"team-{index % 50}"}},
        }
        for index in range(BATCH_SIZE)
    ]
    return json.dumps({"batch": messages}).encode()


def send_for(
    url: str, write_key: str, run: str, sender: int, seconds: float, results
) -> None:
    """Post batches until *seconds* pass; put (latencies, statuses) on *results*."""
    session = requests.Session()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    for number in range(MAX_BATCHES_PER_SENDER):
        if time.monotonic() >= deadline:
            break
        body = make_batch(run, sender, number)
        started = time.perf_counter()
        try:
            response = session.post(
                url + "/v1/batch",
                data=body,
                headers={"Content-Type": "application/json"},
                auth=(write_key, ""),
                timeout=30,
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
    session.close()
    results.put((latencies, statuses))


def run_load(server: Server, write_key: str, seconds: float, processes: int) -> dict:
    """Load *server* from *processes* senders for *seconds*; return the figures."""
    run = uuid.uuid4().hex[:8]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    senders = [
        context.Process(
            target=send_for, args=(server.url, write_key, run, number, seconds, results)
        )
        for number in range(processes)
    ]
    rss_start = server.rss_bytes()
    started = time.monotonic()
    for sender in senders:
        sender.start()
    collected = [results.get(timeout=seconds + 120) for _ in senders]
    elapsed = time.monotonic() - started
    for sender in senders:
        sender.join(timeout=30)
    rss_end = server.rss_bytes()

    latencies = sorted(value for batch, _ in collected for value in batch)
    statuses: dict[int, int] = {}
    for _, counts in collected:
        for status, count in counts.items():
            statuses[status] = statuses.get(status, 0) + count
    ok_batches = statuses.get(200, 0)
    return {
        "backend": server.backend,
        "seconds": round(elapsed, 2),
        "processes": processes,
        "batch_size": BATCH_SIZE,
        "batches": len(latencies),
        "statuses": statuses,
        "events_per_second": round(ok_batches * BATCH_SIZE / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else 0.0,
        "rss_start_mib": round(rss_start / 2**20, 1),
        "rss_end_mib": round(rss_end / 2**20, 1),
    }


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="load duration in seconds"
    )
    parser.add_argument("--processes", type=int, default=4, help="sender processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be more than 0 and at most 600")

    workdir = Path(tempfile.mkdtemp(prefix="pug-load-"))
    if args.backend == "sqlite":
        url = f"sqlite:///{workdir / 'pug.db'}"
    else:
        url = create_postgres_database()
    server = Server(url, args.backend, workdir, workers=args.workers)
    try:
        server.start()
        project = create_project(url)
        figures = run_load(server, project.write_key, args.seconds, args.processes)
    finally:
        server.stop()
        if args.backend == "postgresql":
            drop_postgres_database(url)
    figures["cpu"] = cpu_model()
    figures["workers"] = args.workers
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
