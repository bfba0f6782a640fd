"""Time one identify merge for persons with 10, 10,000 and 100,000 events.

The events of an anonymous person are bulk-inserted through the models into
a temporary database; then an identify call links that anonymous id to an
identified user with stored events of its own, which merges the anonymous
person. The merge runs through ``ingest_batch``, as a live request would,
and each size is timed over a few repeats (median). A merge moves ids,
traits and memberships, never events, so the times should stay flat.

Each call is split into the identify event's own insert (the event
statement of ``ingest_batch``) and the merge proper
(``identity.apply_messages``, which reads the ids and runs
``merge_persons``), timed by wrapping those two functions for the call.

Run: ``/work/venv/bin/python benchmarks/identity.py [--sizes 10,10000,100000]
[--backend sqlite|postgresql]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from pug_server.config import load_config
from pug_server.db import database, make_database
from pug_server.models import ALL_MODELS, Event, Person, PersonDistinctId, Project
from pug_server.services import identity
from pug_server.services import ingest as ingest_service
from pug_server.services.ingest import ingest_batch

ROOT = Path(__file__).resolve().parents[1]

REPEATS = 5
BASE_TIME = dt.datetime(2024, 5, 1)


def _insert_person_with_events(project_id: int, distinct_id: str, events: int) -> None:
    person = Person.create(
        project=project_id, identified=False, first_distinct_id=distinct_id
    )
    PersonDistinctId.create(project=project_id, distinct_id=distinct_id, person=person)
    rows = (
        {
            "project": project_id,
            "message_id": uuid.uuid4().hex,
            "type": "track",
            "event": "Page Viewed",
            "anonymous_id": distinct_id,
            "distinct_id": distinct_id,
            "timestamp": BASE_TIME + dt.timedelta(seconds=n),
            "received_at": BASE_TIME,
        }
        for n in range(events)
    )
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 1000:
            Event.insert_many(batch).execute()
            batch = []
    if batch:
        Event.insert_many(batch).execute()


@contextlib.contextmanager
def _timed(owner: object, name: str, spent: list[float]) -> Iterator[None]:
    """Add the seconds each call of ``owner.name`` takes to *spent*, then restore it."""
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)


def time_merge(
    project: Project, config: dict, events: int, repeat: int
) -> tuple[float, float, float]:
    """Return the seconds of one identify merge for persons with *events* events.

    :returns: the whole ``ingest_batch`` call, the event insert in it, and
        the merge proper (``identity.apply_messages``) in it.
    """
    anonymous_id = f"anon-{events}-{repeat}"
    user_id = f"user-{events}-{repeat}"
    with database.atomic():
        _insert_person_with_events(project.id, anonymous_id, events)
        _insert_person_with_events(project.id, user_id, events)
        Person.update(identified=True).where(
            Person.first_distinct_id == user_id
        ).execute()
    message = {"type": "identify", "userId": user_id, "anonymousId": anonymous_id}
    insert: list[float] = []
    merge: list[float] = []
    with (
        _timed(ingest_service, "_insert_events", insert),
        _timed(identity, "apply_messages", merge),
    ):
        started = time.perf_counter()
        ingest_batch(project, [message], config=config)
        elapsed = time.perf_counter() - started
    merged = PersonDistinctId.get(PersonDistinctId.distinct_id == anonymous_id)
    owner = PersonDistinctId.get(PersonDistinctId.distinct_id == user_id)
    if merged.person_id != owner.person_id:
        raise RuntimeError(f"identify did not merge {anonymous_id} into {user_id}")
    return elapsed, sum(insert), sum(merge)


@contextlib.contextmanager
def _database_url(backend: str, folder: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    sys.path.insert(0, str(ROOT))
    from tests.helpers.live import create_postgres_database, drop_postgres_database

    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,10000,100000", help="events per person")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[int, tuple[float, float, float]] = {}
    with (
        tempfile.TemporaryDirectory() as folder,
        _database_url(args.backend, folder) as url,
    ):
        config = load_config({"DATABASE_URL": url})
        db = make_database(url, config)
        database.initialize(db)
        db.create_tables(ALL_MODELS)
        project, _ = Project.create_with_keys("bench")
        # One untimed merge first: the first call of a process prepares its
        # statements and fills caches, which took several ms on its own.
        time_merge(project, config, 10, -1)
        for size in sizes:
            times = [time_merge(project, config, size, n) for n in range(REPEATS)]
            results[size] = tuple(
                statistics.median(column) for column in zip(*times, strict=True)
            )
        # Pooled connections must be closed before the database is dropped.
        if hasattr(db, "close_all"):
            db.close_all()
        else:
            db.close()
    _print_table(args.backend, sizes, results)


def _print_table(
    backend: str, sizes: list[int], results: dict[int, tuple[float, float, float]]
) -> None:
    print(f"{backend}, median of {REPEATS} merges, ms (ratio to the first size)")
    # The rest of the call is validation, the commit and the bookkeeping
    # between the two timed steps.
    header = ("ingest_batch", "event insert", "merge", "rest")
    print(f"{'events':>8} " + " ".join(f"{title:>18}" for title in header))
    columns = {
        size: (*results[size], results[size][0] - results[size][1] - results[size][2])
        for size in sizes
    }
    first = columns[sizes[0]]
    for size in sizes:
        cells = [
            f"{value * 1000:9.2f} ({value / base:5.2f})"
            for value, base in zip(columns[size], first, strict=True)
        ]
        print(f"{size:>8} " + " ".join(f"{cell:>18}" for cell in cells))


if __name__ == "__main__":
    main()
