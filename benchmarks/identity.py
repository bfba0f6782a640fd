"""Time one identify merge for persons with 10, 10,000 and 100,000 events.

The events of an anonymous person are bulk-inserted through the models into
a temporary SQLite file; then an identify call links that anonymous id to an
identified user with stored events of its own, which merges the anonymous
person. The merge runs through ``ingest_batch``, as a live request would,
and each size is timed over a few repeats (median). A merge moves ids,
traits and memberships, never events, so the times should stay flat.

Run: ``/work/venv/bin/python benchmarks/identity.py [--sizes 10,10000,100000]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from pug_server.config import load_config
from pug_server.db import database, make_database
from pug_server.models import ALL_MODELS, Event, Person, PersonDistinctId, Project
from pug_server.services.ingest import ingest_batch

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


def time_merge(project: Project, config: dict, events: int, repeat: int) -> float:
    """Return the seconds one identify merge takes for a person with *events* events."""
    anonymous_id = f"anon-{events}-{repeat}"
    user_id = f"user-{events}-{repeat}"
    with database.atomic():
        _insert_person_with_events(project.id, anonymous_id, events)
        _insert_person_with_events(project.id, user_id, events)
        Person.update(identified=True).where(
            Person.first_distinct_id == user_id
        ).execute()
    message = {"type": "identify", "userId": user_id, "anonymousId": anonymous_id}
    started = time.perf_counter()
    ingest_batch(project, [message], config=config)
    elapsed = time.perf_counter() - started
    merged = PersonDistinctId.get(PersonDistinctId.distinct_id == anonymous_id)
    owner = PersonDistinctId.get(PersonDistinctId.distinct_id == user_id)
    if merged.person_id != owner.person_id:
        raise RuntimeError(f"identify did not merge {anonymous_id} into {user_id}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,10000,100000", help="events per person")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        config = load_config({"DATABASE_URL": url})
        db = make_database(url, config)
        database.initialize(db)
        db.create_tables(ALL_MODELS)
        project, _ = Project.create_with_keys("bench")
        results = {}
        for size in sizes:
            times = [time_merge(project, config, size, n) for n in range(REPEATS)]
            results[size] = statistics.median(times)
        db.close()
    baseline = results[sizes[0]]
    print(f"{'events':>8} {'median ms':>10} {'ratio':>6}")
    for size in sizes:
        print(
            f"{size:>8} {results[size] * 1000:>10.2f} {results[size] / baseline:>6.2f}"
        )


if __name__ == "__main__":
    main()
