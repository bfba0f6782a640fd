"""Time ``pug-server import`` against calling ``ingest_batch`` directly.

Both paths store the same N track messages (300 users, 60 teams) into a
fresh temporary SQLite file each, in chunks of 500. The baseline hands
already-parsed dicts to ``ingest_batch``. The import reads the same
messages from a newline-delimited file, plain and gzip, so the ratio is
the cost of reading, decompressing and parsing the file. Each case is the median of a
few repeats, run round-robin.

Run: ``/work/venv/bin/python benchmarks/import_file.py [--lines 5000]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pug_server.config import load_config
from pug_server.db import database, make_database
from pug_server.models import ALL_MODELS, Project
from pug_server.services.importer import DEFAULT_CHUNK_LINES, import_file
from pug_server.services.ingest import ingest_batch

REPEATS = 5
MAX_LINES = 200_000


def make_messages(count: int) -> list[dict]:
    rng = random.Random(1)
    return [
        {
            "type": "track",
            "userId": f"user-{rng.randrange(300)}",
            "event": "Document Edited",
            "messageId": f"m-{number}",
            "timestamp": f"2024-05-{1 + number % 28:02d}T10:00:00Z",
            "properties": {"words": rng.randrange(900)},
            "context": {"groups": {"team": f"team-{rng.randrange(60)}"}},
        }
        for number in range(count)
    ]


def run_fresh(folder: Path, name: str, work: Callable[[Project, dict], None]) -> float:
    """Time *work* on a project of a new SQLite file; return seconds."""
    url = f"sqlite:///{folder / name}.db"
    config = load_config({"DATABASE_URL": url})
    db = make_database(url, config)
    database.initialize(db)
    with db.connection_context():
        db.create_tables(ALL_MODELS)
        project, _ = Project.create_with_keys("bench")
        started = time.perf_counter()
        work(project, config)
        elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def baseline(messages: list[dict]) -> Callable[[Project, dict], None]:
    def work(project: Project, config: dict) -> None:
        for start in range(0, len(messages), DEFAULT_CHUNK_LINES):
            ingest_batch(
                project, messages[start : start + DEFAULT_CHUNK_LINES], config=config
            )

    return work


def from_file(path: Path) -> Callable[[Project, dict], None]:
    def work(project: Project, config: dict) -> None:
        summary = import_file(project, path, config=config)
        if summary.rejected:
            raise SystemExit(f"benchmark data was rejected: {summary.problems[:3]}")

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=5_000, help="messages per run")
    args = parser.parse_args()
    if not 1 <= args.lines <= MAX_LINES:
        parser.error(f"--lines must be between 1 and {MAX_LINES}, got {args.lines}")
    messages = make_messages(args.lines)
    text = "".join(json.dumps(message) + "\n" for message in messages)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        plain = folder / "messages.jsonl"
        plain.write_text(text)
        packed = folder / "messages.jsonl.gz"
        packed.write_bytes(gzip.compress(text.encode()))
        cases = {
            "ingest_batch (baseline)": baseline(messages),
            "import, plain file": from_file(plain),
            "import, gzip file": from_file(packed),
        }
        # Round-robin over the cases, so that load from other work on the
        # machine falls on every case alike.
        times: dict[str, list[float]] = {label: [] for label in cases}
        for repeat in range(REPEATS):
            for index, (label, work) in enumerate(cases.items()):
                times[label].append(run_fresh(folder, f"case{index}-run{repeat}", work))
        results = {label: statistics.median(values) for label, values in times.items()}
    base = results["ingest_batch (baseline)"]
    print(f"{args.lines} messages, median of {REPEATS}")
    for label, seconds in results.items():
        rate = args.lines / seconds
        print(
            f"{label:<26} {seconds:7.2f} s  {rate:8.0f} lines/s  {seconds / base:5.2f}x"
        )


if __name__ == "__main__":
    main()
